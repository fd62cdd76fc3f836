-- A keyed local recipient: the body is replaced and the MIME header rewritten; routing and
-- threading headers stay as they were.
-- expect-log: MT-ENC-1: verdict=encrypt recipients=1 keys=
dofile(scriptdir .. "/common.lua")

local conn = connect()
envelope(conn, "MT-ENC-1", "<bob@example.net>", {"<alice@example.test>"})
headers(conn, standard_headers("encrypt-one"))
body(conn, {"Hello Alice,\r\n", "this is secret.\r\n"})
eom(conn)
expect_encrypted(conn, "keyed recipient")
-- MIME-Version 1.0 was present once already: no second one.
check(not mt.eom_check(conn, MT_HDRADD, "MIME-Version"), "a second MIME-Version added")
mt.disconnect(conn)
