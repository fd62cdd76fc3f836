-- Where the milter must not deliver: a mix of encrypt and plain recipients (as a submission that
-- cannot defer a recipient gives it: no {rcpt_mailer}), a `required` domain
-- without a key, a message too large to encrypt. Each gets its SMTP reply; nothing is changed.
-- expect-log: MT-MIX: verdict=defer reply="451 4.7.0" recipients=2
-- expect-log: MT-REQ: verdict=reject reply="550 5.7.1" recipients=1
-- expect-log: MT-BIG: verdict=defer reply="452 4.3.4"
-- expect-log: MT-BIG-ANSWERED: verdict=defer reply="452 4.3.4"
-- expect-log: MT-BIG-PLAIN: verdict=pass
dofile(scriptdir .. "/common.lua")

local conn = connect()
envelope(conn, "MT-MIX", "<bob@example.net>", {"<alice@example.test>", "<nokey@example.test>"})
headers(conn, standard_headers("mixed"))
body(conn, {"for both\r\n"})
eom(conn)
expect_smtp_reply(conn, "451", "4.7.0",
                  "recipients need different copies (encrypted and plain, or a copy of their own); send them in separate transactions",
                  "encrypt and plain recipients together")

envelope(conn, "MT-REQ", "<bob@example.net>", {"<nokey@secure.test>"})
headers(conn, standard_headers("required"))
body(conn, {"must be encrypted\r\n"})
eom(conn)
expect_smtp_reply(conn, "550", "5.7.1", "nokey@secure.test: encryption is required but no usable OpenPGP key is known",
                  "required domain without a key")

-- max_message_size is 128K in the runner's config (milter_fixture.py).
local line = string.rep("x", 998) .. "\r\n"
local chunk = string.rep(line, 30)
local chunks = {}
for i = 1, 40 do chunks[i] = chunk end
-- Body chunks are not answered (SMFIP_NR_BODY): the whole body streams past (its first MiB read, to
-- see whether it is already encrypted), and the verdict comes at end of message.
envelope(conn, "MT-BIG", "<bob@example.net>", {"<alice@example.test>"})
headers(conn, standard_headers("big"))
body(conn, chunks)
eom(conn)
expect_smtp_reply(conn, "452", "4.3.4", "message too large to encrypt", "too large to encrypt")

envelope(conn, "MT-BIG-PLAIN", "<bob@example.net>", {"<nokey@example.test>"})
headers(conn, standard_headers("big-plain"))
body(conn, {chunk, chunk, chunk, chunk, chunk})
eom(conn)
expect_untouched(conn, "too large but nobody needs encryption")
mt.disconnect(conn)

-- An MTA that does not offer SMFIP_NR_BODY (miltertest's full set of steps without it): every chunk
-- is answered, by libmilter on the milter's behalf, and the verdict is the same.
conn = connect(0x1FFFFF - SMFIP_NR_BODY)
envelope(conn, "MT-BIG-ANSWERED", "<bob@example.net>", {"<alice@example.test>"})
headers(conn, standard_headers("big-answered"))
for _, c in ipairs(chunks) do
    check(mt.bodystring(conn, c) == nil, "mt.bodystring")
    expect_reply(conn, SMFIR_CONTINUE, "body chunk to an MTA without SMFIP_NR_BODY")
end
eom(conn)
expect_smtp_reply(conn, "452", "4.3.4", "message too large to encrypt", "too large to encrypt, chunks answered")
mt.disconnect(conn)

