-- Helpers shared by the miltertest scripts. The runner (run_miltertest.py) defines `socket`
-- (the milter's socket) and `scriptdir` with -D.

-- error() prints nothing under miltertest: say why first.
function fail(message)
    mt.echo("FAIL: " .. message)
    error(message)
end

function check(condition, message)
    if not condition then fail(message) end
end

-- `steps`: the protocol steps offered, as an MTA would (nil: miltertest's default, everything).
function connect(steps)
    local conn = mt.connect(socket, 40, 0.25)
    if conn == nil then fail("cannot connect to " .. socket) end
    if steps ~= nil then check(mt.negotiate(conn, nil, nil, steps) == nil, "mt.negotiate") end
    -- The milter negotiates away what it does not use; miltertest then refuses those steps.
    check(mt.test_option(conn, SMFIP_NOCONNECT), "SMFIP_NOCONNECT not negotiated")
    check(mt.test_option(conn, SMFIP_NOHELO), "SMFIP_NOHELO not negotiated")
    check(mt.test_option(conn, SMFIP_HDR_LEADSPC), "SMFIP_HDR_LEADSPC not negotiated")
    -- MAIL, header fields and end of header are never refused: no reply, one round trip less each.
    check(mt.test_option(conn, SMFIP_NR_MAIL), "SMFIP_NR_MAIL not negotiated")
    check(mt.test_option(conn, SMFIP_NR_HDR), "SMFIP_NR_HDR not negotiated")
    check(mt.test_option(conn, SMFIP_NR_EOH), "SMFIP_NR_EOH not negotiated")
    if steps == nil then
        check(mt.test_option(conn, SMFIP_NR_BODY), "SMFIP_NR_BODY not negotiated")
    end
    check(not mt.test_option(conn, SMFIP_NR_RCPT), "SMFIP_NR_RCPT negotiated: recipients could not be refused")
    check(mt.test_action(conn, SMFIF_CHGBODY), "SMFIF_CHGBODY not requested")
    check(not mt.test_action(conn, SMFIF_ADDRCPT), "SMFIF_ADDRCPT requested but never used")
    return conn
end

function expect_reply(conn, wanted, what)
    local reply = mt.getreply(conn)
    if reply ~= wanted then
        fail(what .. ": reply " .. string.char(reply) .. ", expected " .. string.char(wanted))
    end
end

-- MAIL FROM with the queue id macro, then each RCPT TO.
function envelope(conn, queue_id, sender, recipients)
    check(mt.macro(conn, SMFIC_MAIL, "i", queue_id) == nil, "macro i")
    check(mt.mailfrom(conn, sender) == nil, "mt.mailfrom")
    expect_reply(conn, SMFIR_CONTINUE, "MAIL FROM")
    for _, rcpt in ipairs(recipients) do
        check(mt.rcptto(conn, rcpt) == nil, "mt.rcptto " .. rcpt)
        expect_reply(conn, SMFIR_CONTINUE, "RCPT TO " .. rcpt)
    end
end

-- Header values as an MTA sends them with SMFIP_HDR_LEADSPC: leading space kept, LF folding.
function standard_headers(subject)
    return {
        {"Received", " from client.example.net (client [192.0.2.1])\n\tby mx.example.test; Fri, 27 Nov 2026 12:00:00 +0000"},
        {"From", " Bob <bob@example.net>"},
        {"To", " Alice <alice@example.test>"},
        {"Subject", " " .. subject},
        {"Date", " Fri, 27 Nov 2026 12:00:00 +0000"},
        {"Message-ID", " <" .. subject .. "@example.net>"},
        {"MIME-Version", " 1.0"},
        {"Content-Type", " text/plain;\n\tcharset=\"utf-8\""},
        {"Content-Transfer-Encoding", " 8bit"},
    }
end

function headers(conn, list)
    for _, h in ipairs(list) do
        check(mt.header(conn, h[1], h[2]) == nil, "mt.header " .. h[1])
        expect_reply(conn, SMFIR_CONTINUE, "header " .. h[1])
    end
    check(mt.eoh(conn) == nil, "mt.eoh")
    expect_reply(conn, SMFIR_CONTINUE, "end of header")
end

function body(conn, chunks)
    for _, chunk in ipairs(chunks) do
        check(mt.bodystring(conn, chunk) == nil, "mt.bodystring")
        expect_reply(conn, SMFIR_CONTINUE, "body chunk")
    end
end

function eom(conn)
    check(mt.eom(conn) == nil, "mt.eom")
end

-- The checks for a message the milter encrypted.
function expect_encrypted(conn, what)
    expect_reply(conn, SMFIR_CONTINUE, what .. ": end of message")
    check(mt.eom_check(conn, MT_BODYCHANGE), what .. ": body not replaced")
    check(mt.eom_check(conn, MT_HDRCHANGE, "Content-Type"), what .. ": Content-Type not changed")
    check(mt.eom_check(conn, MT_HDRDELETE, "Content-Transfer-Encoding"), what .. ": Content-Transfer-Encoding not removed")
    -- Routing and threading fields (the Subject is left to the header protection policy).
    for _, name in ipairs({"From", "To", "Cc", "Date", "Message-ID", "Received", "References", "Return-Path"}) do
        check(not mt.eom_check(conn, MT_HDRCHANGE, name), what .. ": " .. name .. " changed")
        check(not mt.eom_check(conn, MT_HDRDELETE, name), what .. ": " .. name .. " deleted")
    end
end

-- The checks for a message the milter left alone.
function expect_untouched(conn, what)
    expect_reply(conn, SMFIR_CONTINUE, what .. ": end of message")
    check(not mt.eom_check(conn, MT_BODYCHANGE), what .. ": body replaced")
    check(not mt.eom_check(conn, MT_HDRCHANGE), what .. ": a header changed")
    check(not mt.eom_check(conn, MT_HDRADD), what .. ": a header added")
    check(not mt.eom_check(conn, MT_HDRDELETE), what .. ": a header deleted")
end

-- miltertest matches a reply only as a whole: code, enhanced code and text.
function expect_smtp_reply(conn, code, xcode, text, what)
    expect_reply(conn, SMFIR_REPLYCODE, what .. ": end of message")
    check(mt.eom_check(conn, MT_SMTPREPLY, code, xcode, text), what .. ": not " .. code .. " " .. xcode .. " " .. text)
    check(not mt.eom_check(conn, MT_BODYCHANGE), what .. ": body replaced although refused")
end
