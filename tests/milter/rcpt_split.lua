-- RCPT-time classing as an SMTP server's milter sees it ({rcpt_mailer} given): the first accepted
-- recipient fixes the transaction's class, a recipient of the other class gets 452 4.5.3, a required
-- one without a key 550 5.7.1, and end of message encrypts for the accepted ones only.
-- expect-log: rcpt=<nokey@example.test> local=yes mode=opportunistic class=plain admission=separate reply="452 4.5.3"
-- expect-log: rcpt=<someone@elsewhere.test> local=no mode=off class=plain admission=separate reply="452 4.5.3"
-- expect-log: rcpt=<nokey@secure.test> local=yes mode=required class=refuse admission=refuse reply="550 5.7.1"
-- expect-log: MT-SPLIT-ENC: verdict=encrypt
-- expect-log: rcpt=<alice@example.test> local=yes mode=opportunistic class=encrypt admission=separate reply="452 4.5.3"
-- expect-log: MT-SPLIT-PLAIN: verdict=pass
dofile(scriptdir .. "/common.lua")

-- RCPT TO with the mailer macro an SMTP server sends; returns the milter's reply.
function rcpt(conn, address, mailer)
    check(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", mailer) == nil, "macro {rcpt_mailer}")
    check(mt.rcptto(conn, address) == nil, "mt.rcptto " .. address)
    return mt.getreply(conn)
end

function mail_from(conn, queue_id)
    check(mt.macro(conn, SMFIC_MAIL, "i", queue_id) == nil, "macro i")
    check(mt.mailfrom(conn, "<bob@example.net>") == nil, "mt.mailfrom")
    expect_reply(conn, SMFIR_CONTINUE, "MAIL FROM")
end

local conn = connect()

-- The keyed recipient first: the transaction is encrypt-class.
mail_from(conn, "MT-SPLIT-ENC")
check(rcpt(conn, "<alice@example.test>", "virtual") == SMFIR_CONTINUE, "keyed recipient not accepted")
check(rcpt(conn, "<nokey@example.test>", "virtual") == SMFIR_REPLYCODE, "keyless local recipient not deferred")
check(rcpt(conn, "<someone@elsewhere.test>", "smtp") == SMFIR_REPLYCODE, "remote recipient not deferred")
check(rcpt(conn, "<nokey@secure.test>", "virtual") == SMFIR_REPLYCODE, "required recipient without a key not refused")
headers(conn, standard_headers("split-encrypted"))
body(conn, {"for alice only\r\n"})
eom(conn)
expect_encrypted(conn, "the encrypt-class transaction")

-- A keyless recipient first: the transaction is plain-class and the keyed one waits for its own.
mail_from(conn, "MT-SPLIT-PLAIN")
check(rcpt(conn, "<nokey@example.test>", "virtual") == SMFIR_CONTINUE, "keyless recipient not accepted")
check(rcpt(conn, "<alice@example.test>", "virtual") == SMFIR_REPLYCODE, "keyed recipient not deferred")
check(rcpt(conn, "<someone@elsewhere.test>", "smtp") == SMFIR_CONTINUE, "remote recipient not accepted")
headers(conn, standard_headers("split-plain"))
body(conn, {"for the plain ones\r\n"})
eom(conn)
expect_untouched(conn, "the plain-class transaction")
mt.disconnect(conn)
