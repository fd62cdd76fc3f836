-- A message aborted in the middle (RSET), then the same connection carries the next message:
-- nothing of the aborted one (its keyless recipient, its body) may leak into the next.
-- expect-log: MT-AFTER-ABORT: verdict=encrypt recipients=1
dofile(scriptdir .. "/common.lua")

local conn = connect()
envelope(conn, "MT-ABORTED", "<bob@example.net>", {"<nokey@example.test>"})
headers(conn, standard_headers("aborted"))
body(conn, {"half of a body that never ends\r\n"})
check(mt.abort(conn) == nil, "mt.abort")

-- Were the aborted message's keyless recipient still there, this would be a mix: tempfail.
envelope(conn, "MT-AFTER-ABORT", "<bob@example.net>", {"<alice@example.test>"})
headers(conn, standard_headers("after-abort"))
body(conn, {"the real message\r\n"})
eom(conn)
expect_encrypted(conn, "message after an abort")

-- Abort right after MAIL FROM, then once more after RCPT.
envelope(conn, "MT-ABORT-2", "<bob@example.net>", {})
check(mt.abort(conn) == nil, "mt.abort after MAIL")
envelope(conn, "MT-ABORT-3", "<bob@example.net>", {"<alice@example.test>"})
check(mt.abort(conn) == nil, "mt.abort after RCPT")
mt.disconnect(conn)
