-- Recipients the milter must not touch: a local recipient without a key (opportunistic) and a
-- recipient in a domain the policy does not list.
-- expect-log: MT-NOKEY: verdict=pass recipients=1 keys=-
-- expect-log: MT-REMOTE: verdict=pass recipients=1 keys=-
dofile(scriptdir .. "/common.lua")

local conn = connect()
envelope(conn, "MT-NOKEY", "<bob@example.net>", {"<nokey@example.test>"})
headers(conn, standard_headers("no-key"))
body(conn, {"Hello\r\n"})
eom(conn)
expect_untouched(conn, "local recipient without a key")
mt.disconnect(conn)

conn = connect()
envelope(conn, "MT-REMOTE", "<bob@example.net>", {"<alice@elsewhere.example>"})
headers(conn, standard_headers("remote"))
body(conn, {"Hello\r\n"})
eom(conn)
expect_untouched(conn, "recipient in an unlisted domain")
mt.disconnect(conn)
