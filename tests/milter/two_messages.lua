-- Several messages on one connection, each decided on its own.
-- expect-log: MT-TWO-1: verdict=encrypt recipients=1
-- expect-log: MT-TWO-2: verdict=pass recipients=1
-- expect-log: MT-TWO-3: verdict=encrypt recipients=1
dofile(scriptdir .. "/common.lua")

local conn = connect()
envelope(conn, "MT-TWO-1", "<bob@example.net>", {"<alice@example.test>"})
headers(conn, standard_headers("first"))
body(conn, {"first message\r\n"})
eom(conn)
expect_encrypted(conn, "first message")

envelope(conn, "MT-TWO-2", "<bob@example.net>", {"<nokey@example.test>"})
headers(conn, standard_headers("second"))
body(conn, {"second message\r\n"})
eom(conn)
expect_untouched(conn, "second message")

envelope(conn, "MT-TWO-3", "<bob@example.net>", {"<Alice@EXAMPLE.test>"})
headers(conn, standard_headers("third"))
body(conn, {"third message\r\n"})
eom(conn)
expect_encrypted(conn, "third message")
mt.disconnect(conn)
