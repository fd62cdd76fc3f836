"""The MTA side of the milter protocol (version 6), enough to drive mdcrypt-milter the way Postfix
and Sendmail do and to capture everything it asks for at end of message, the replaced body
included (miltertest cannot hand the new body to a script).

Python 3 standard library only.
"""
import socket
import struct

SMFIF_ADDHDRS, SMFIF_CHGBODY, SMFIF_ADDRCPT, SMFIF_DELRCPT = 0x01, 0x02, 0x04, 0x08
SMFIF_CHGHDRS, SMFIF_QUARANTINE, SMFIF_CHGFROM, SMFIF_ADDRCPT_PAR, SMFIF_SETSYMLIST = 0x10, 0x20, 0x40, 0x80, 0x100
ALL_ACTIONS = 0x1FF

SMFIP_NOCONNECT, SMFIP_NOHELO, SMFIP_NOMAIL, SMFIP_NORCPT = 0x01, 0x02, 0x04, 0x08
SMFIP_NOBODY, SMFIP_NOHDRS, SMFIP_NOEOH, SMFIP_NR_HDR = 0x10, 0x20, 0x40, 0x80
SMFIP_NOUNKNOWN, SMFIP_NODATA, SMFIP_SKIP, SMFIP_RCPT_REJ = 0x100, 0x200, 0x400, 0x800
SMFIP_NR_CONN, SMFIP_NR_HELO, SMFIP_NR_MAIL, SMFIP_NR_RCPT = 0x1000, 0x2000, 0x4000, 0x8000
SMFIP_NR_DATA, SMFIP_NR_UNKN, SMFIP_NR_EOH, SMFIP_NR_BODY = 0x10000, 0x20000, 0x40000, 0x80000
SMFIP_HDR_LEADSPC = 0x100000
NO_REPLY_FLAGS = SMFIP_NR_HDR | 0xFF000
NO_REPLY = (b"n", b"")  # what a step the milter does not answer "returns" here
# What Postfix 3.7 offers (milter_protocol = 6): every step flag, no-reply flags, SKIP, LEADSPC.
POSTFIX_PROTOCOL = 0x1FFFFF


class MilterError(Exception):
    pass


class EndOfMessage:
    """What the milter answered at end of message."""

    def __init__(self):
        self.header_actions = []  # ("add", name, value) / ("change", name, index, value) / ("insert", index, name, value)
        self.body_chunks = []
        self.reply = None          # final response letter: c a t r y d
        self.reply_text = None     # for 'y'

    @property
    def new_body(self):
        return b"".join(self.body_chunks) if self.body_chunks else None


class MilterClient:
    def __init__(self, address, timeout=60.0):
        """`address`: a unix socket path, or a (host, port) pair for an inet socket."""
        family = socket.AF_INET if isinstance(address, tuple) else socket.AF_UNIX
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.actions = 0
        self.protocol = 0
        self.symlist = b""

    def close(self, polite=True):
        try:
            if polite:
                self._send(b"Q")
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # --- wire ---
    def _send(self, payload):
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)

    def _recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise MilterError("milter closed the connection")
            data += chunk
        return data

    def _recv(self):
        (length,) = struct.unpack(">I", self._recv_exact(4))
        packet = self._recv_exact(length)
        return packet[:1], packet[1:]

    def _reply(self):
        while True:
            cmd, data = self._recv()
            if cmd != b"p":  # progress: keep waiting
                return cmd, data

    # --- protocol steps ---
    def negotiate(self, actions=ALL_ACTIONS, protocol=POSTFIX_PROTOCOL, version=6):
        self._send(b"O" + struct.pack(">III", version, actions, protocol))
        cmd, data = self._recv()
        if cmd != b"O":
            raise MilterError(f"negotiation answered {cmd!r}")
        _, self.actions, self.protocol = struct.unpack(">III", data[:12])
        self.symlist = data[12:]
        return self.actions, self.protocol

    def macro(self, for_cmd, **macros):
        payload = b"D" + for_cmd
        for name, value in macros.items():
            payload += name.encode() + b"\0" + value.encode() + b"\0"
        self._send(payload)

    def _step(self, payload, no_reply_flag=0):
        """Sends a step; waits for the answer unless the milter negotiated not to give one."""
        self._send(payload)
        if self.protocol & no_reply_flag:
            return NO_REPLY
        return self._reply()

    def connect(self, hostname="client.example.net", address="192.0.2.1", port=25):
        """SMFIC_CONNECT as Postfix sends it for an IPv4 client; only when the milter kept the step."""
        if self.protocol & SMFIP_NOCONNECT:
            raise MilterError("the milter negotiated the connect step away")
        payload = b"C" + hostname.encode() + b"\0" + b"4" + struct.pack(">H", port) + address.encode() + b"\0"
        return self._step(payload, SMFIP_NR_CONN)

    def mail(self, sender, queue_id=None):
        if queue_id:
            self.macro(b"M", i=queue_id)
        return self._step(b"M" + sender.encode() + b"\0", SMFIP_NR_MAIL)

    def rcpt(self, recipient):
        return self._step(b"R" + recipient.encode() + b"\0", SMFIP_NR_RCPT)

    def header(self, name, value):
        """`value` as the MTA sends it: with the leading space when HDR_LEADSPC was negotiated."""
        return self._step(b"L" + name.encode() + b"\0" + value + b"\0", SMFIP_NR_HDR)

    def eoh(self):
        return self._step(b"N", SMFIP_NR_EOH)

    def body(self, chunk):
        return self._step(b"B" + chunk, SMFIP_NR_BODY)

    def abort(self):
        self._send(b"A")  # no reply

    def eom(self, queue_id=None):
        if queue_id:
            self.macro(b"E", i=queue_id)
        self._send(b"E")
        result = EndOfMessage()
        while True:
            cmd, data = self._reply()
            if cmd == b"h":
                name, value = data.split(b"\0")[:2]
                result.header_actions.append(("add", name.decode(), value))
            elif cmd == b"m":
                (index,) = struct.unpack(">I", data[:4])
                name, value = data[4:].split(b"\0")[:2]
                result.header_actions.append(("change", name.decode(), index, value))
            elif cmd == b"i":
                (index,) = struct.unpack(">I", data[:4])
                name, value = data[4:].split(b"\0")[:2]
                result.header_actions.append(("insert", index, name.decode(), value))
            elif cmd == b"b":
                result.body_chunks.append(data)
            elif cmd in (b"c", b"a", b"t", b"r", b"d"):
                result.reply = cmd.decode()
                return result
            elif cmd == b"y":
                result.reply = "y"
                result.reply_text = data.rstrip(b"\0").decode()
                return result
            else:
                raise MilterError(f"unexpected end-of-message action {cmd!r}")

    def send_message(self, sender, recipients, headers, body_chunks, queue_id="Q1"):
        """A whole transaction; returns the EndOfMessage. `headers`: (name, raw value bytes) pairs as
        they follow the colon in the message (leading space, CRLF folding); sent as the MTA would."""
        expect_continue(self.mail(sender, queue_id), "MAIL")
        for r in recipients:
            expect_continue(self.rcpt(r), "RCPT")
        for name, raw in headers:
            expect_continue(self.header(name, to_mta_value(raw, self.protocol)), "header " + name)
        expect_continue(self.eoh(), "EOH")
        for chunk in body_chunks:
            cmd, data = self.body(chunk)
            if cmd == b"s":
                break
            expect_continue((cmd, data), "body")
        return self.eom(queue_id)


def expect_continue(reply, what):
    """A continue, or no answer at all for a step the milter does not answer."""
    cmd, data = reply
    if cmd not in (b"c", b"n"):
        raise MilterError(f"{what}: answered {cmd!r} {data!r}")


def to_mta_value(raw, protocol):
    """What Postfix/Sendmail hand a milter: LF line ends inside the value; without HDR_LEADSPC one
    leading space less."""
    value = raw.replace(b"\r\n", b"\n")
    if not protocol & SMFIP_HDR_LEADSPC and value.startswith(b" "):
        value = value[1:]
    return value


def apply_header_actions(headers, actions, protocol):
    """The header as the MTA stores it after the milter's changes. `headers`: (name, raw value) pairs;
    returns the same form. Values from the milter get the MTA's treatment: LF -> CRLF, and a space
    in front without HDR_LEADSPC."""
    def from_milter(value):
        value = value.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return value if protocol & SMFIP_HDR_LEADSPC else b" " + value

    result = list(headers)
    for action in actions:
        if action[0] == "add":
            result.append((action[1], from_milter(action[2])))
        elif action[0] == "insert":
            _, index, name, value = action
            result.insert(index, (name, from_milter(value)))
        else:
            _, name, index, value = action
            seen = 0
            for i, (n, _) in enumerate(result):
                if n.lower() == name.lower():
                    seen += 1
                    if seen == index:
                        if value:
                            result[i] = (n, from_milter(value))
                        else:
                            del result[i]
                        break
            else:
                raise MilterError(f"change of {name} #{index}, which does not exist")
    return result


def serialize(headers, body):
    return b"".join(name.encode() + b":" + value + b"\r\n" for name, value in headers) + b"\r\n" + body
