"""A small client of sanmq's queue managers in Python, to show the protocol is language-neutral.

It speaks docs/PROTOCOL.md over TCP with nothing but the standard library and msgpack
(Debian's python3-msgpack): frames of a 4-byte big-endian length and a MessagePack array,
the hello, strictly increasing request ids, pipelined requests (send now, wait later), error
frames raised as SanmqError, and typed property values as [type, value] pairs. For the `mq`
personality it packs and unpacks IBM MQ's version-2 MQMD (the offsets of
src/qm/mq/mqmd.ts) with struct, in the connection's byte order and CCSID; for `jms` it puts
and gets JMS messages as maps. Run it with /usr/bin/python3: a pyenv python3 may lack msgpack.
"""

import socket
import struct

import msgpack

PROTOCOL_VERSIONS = [1]
REQUEST, REPLY, ERROR, EVENT = 0, 1, 2, 3
TYPES = ("n", "b", "d", "l", "s", "x")
LENGTH = struct.Struct(">I")
# Until the hello reply states the connection's limit, no honest frame is larger than this.
HELLO_FRAME_BYTES_MAX = 64 * 1024

# The CCSIDs a queue manager supports, as Python codecs; EBCDIC blanks are 0x40.
CODECS = {37: "cp037", 500: "cp500", 819: "latin-1", 850: "cp850", 1252: "cp1252",
          1208: "utf-8"}
MQENC_BIG, MQENC_LITTLE = 273, 546
MQFMT_STRING = "MQSTR"


class SanmqError(Exception):
    """An error frame: `code` is one of sanmq's stable codes (E_NO_MSG, E_NOT_AUTHORIZED…)."""

    def __init__(self, code, message, details=None, request_id=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or {}
        # The id the error frame carried: a request's, or 0 for the connection itself.
        self.request_id = request_id


# Typed values ------------------------------------------------------------------------------

def to_typed(value):
    """A Python value as a [type, value] pair; a ("d", 3) pair passes as it is (a double 3)."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] in TYPES:
        return list(value)
    if value is None:
        return ["n", None]
    if isinstance(value, bool):  # before int: bool is a subclass of int
        return ["b", value]
    if isinstance(value, float):
        return ["d", value]
    if isinstance(value, int):
        return ["l", value]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, (bytes, bytearray)):
        return ["x", bytes(value)]
    raise TypeError(f"no typed value for {type(value).__name__}")


def from_typed(pair):
    """A [type, value] pair as a Python value (a double sent as an integer comes back float)."""
    kind, value = pair
    if kind == "d":
        return float(value)
    return bytes(value) if kind == "x" else value


def to_typed_map(values):
    return {name: to_typed(value) for name, value in (values or {}).items()}


def from_typed_map(values):
    return {name: from_typed(pair) for name, pair in (values or {}).items()}


def whole_times(reply):
    """Times in ms as int: JavaScript writes numbers beyond 32 bits as MessagePack float64."""
    for key in ("timestamp", "expiration"):
        if isinstance(reply.get(key), float):
            reply[key] = int(reply[key])
    return reply


# The MQMD ----------------------------------------------------------------------------------

def byte_order(encoding):
    """The struct byte order of an MQ encoding: its low nibble says 1 (big) or 2 (little)."""
    order = {1: ">", 2: "<"}.get(encoding & 0x0F)
    if order is None:
        raise ValueError(f"MQ encoding {encoding} names no integer byte order")
    return order


def codec(ccsid):
    if ccsid not in CODECS:
        raise ValueError(f"CCSID {ccsid} is not one of {sorted(CODECS)}")
    return CODECS[ccsid]


class MQMD:
    """IBM MQ's message descriptor, version 2 (364 bytes), by the MQ field names.

    FIELDS follow StrucId ("MD  ") and Version (2) in order: (name, kind, bytes, default),
    kind "l" an MQLONG, "c" blank-padded characters, "b" bytes. Encoding None means the
    connection's; CodedCharSetId 0 the connection's CCSID; MsgId of zeros asks for a new id.
    """

    FIELDS = [
        ("Report", "l", 4, 0), ("MsgType", "l", 4, 8), ("Expiry", "l", 4, -1),
        ("Feedback", "l", 4, 0), ("Encoding", "l", 4, None), ("CodedCharSetId", "l", 4, 0),
        ("Format", "c", 8, ""), ("Priority", "l", 4, -1), ("Persistence", "l", 4, 2),
        ("MsgId", "b", 24, bytes(24)), ("CorrelId", "b", 24, bytes(24)),
        ("BackoutCount", "l", 4, 0), ("ReplyToQ", "c", 48, ""), ("ReplyToQMgr", "c", 48, ""),
        ("UserIdentifier", "c", 12, ""), ("AccountingToken", "b", 32, bytes(32)),
        ("ApplIdentityData", "c", 32, ""), ("PutApplType", "l", 4, 0),
        ("PutApplName", "c", 28, ""), ("PutDate", "c", 8, ""), ("PutTime", "c", 8, ""),
        ("ApplOriginData", "c", 4, ""),
        ("GroupId", "b", 24, bytes(24)), ("MsgSeqNumber", "l", 4, 1), ("Offset", "l", 4, 0),
        ("MsgFlags", "l", 4, 0), ("OriginalLength", "l", 4, -1),
    ]
    BYTES = 364
    LAYOUT = "4si" + "".join("i" if kind == "l" else f"{size}s" for _, kind, size, _ in FIELDS)
    assert struct.calcsize(">" + LAYOUT) == BYTES, "the fields tile the 364-byte MQMD"

    def __init__(self, **fields):
        for name, _, _, default in self.FIELDS:
            setattr(self, name, fields.pop(name, default))
        if fields:
            raise TypeError(f"MQMD has no field {', '.join(fields)}")

    def __repr__(self):
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name, *_ in self.FIELDS)
        return f"MQMD({shown})"

    def pack(self, encoding, ccsid):
        """The MQMD's bytes: integers in `encoding`'s byte order, characters in `ccsid`."""
        name_of = codec(ccsid)
        blank = " ".encode(name_of)
        values = ["MD  ".encode(name_of), 2]
        for name, kind, size, _ in self.FIELDS:
            value = getattr(self, name)
            if kind == "c":
                value = value.encode(name_of)
                if len(value) > size:
                    raise ValueError(f"MQMD {name} is {len(value)} bytes; the field holds {size}")
                value = value.ljust(size, blank)
            elif kind == "b" and len(value) != size:
                raise ValueError(f"MQMD {name} must be {size} bytes, not {len(value)}")
            values.append(value)
        return struct.pack(byte_order(encoding) + self.LAYOUT, *values)

    @classmethod
    def unpack(cls, data, encoding, ccsid):
        """Reads a version-2 MQMD (all a queue manager sends) written in `encoding` and `ccsid`."""
        name_of = codec(ccsid)
        blank = " ".encode(name_of)
        if len(data) < cls.BYTES:
            raise ValueError(f"an MQMD of {len(data)} bytes; version 2 has {cls.BYTES}")
        struc_id, version, *values = struct.unpack(byte_order(encoding) + cls.LAYOUT,
                                                   data[:cls.BYTES])
        if struc_id != "MD  ".encode(name_of) or version != 2:
            raise ValueError(f"not a version-2 MQMD in CCSID {ccsid}, encoding {encoding}")
        fields = {}
        for (name, kind, _, _), value in zip(cls.FIELDS, values):
            if kind == "c":
                # As MQ reads C strings, a NUL ends the text; trailing blanks are padding.
                value = value.split(b"\0", 1)[0].rstrip(blank).decode(name_of)
            fields[name] = value
        return cls(**fields)


# The connection ----------------------------------------------------------------------------

class Connection:
    """An application connection to a queue manager's TCP listener.

    `ccsid` and `encoding` (mq) are the connection's own; absent, the queue manager's. After
    the hello, `personality`, `ccsid`, `encoding` and `hello` say what the connection reached.
    """

    def __init__(self, host, port, secret=None, ccsid=None, encoding=None, timeout=60.0):
        self._socket = socket.create_connection((host, port), timeout=timeout)
        self._buffer = bytearray()
        self._next_id = 1
        self._waiting = set()  # ids sent, not yet answered
        self._answers = {}  # id -> (ok, result), answered but not yet waited for
        self._broken = None
        self._frame_bytes_max = HELLO_FRAME_BYTES_MAX
        # A queue manager refuses any request sent before the hello is answered.
        self._in_flight_max = 1
        hello = {"versions": PROTOCOL_VERSIONS, "role": "application"}
        for key, value in (("secret", secret), ("ccsid", ccsid), ("encoding", encoding)):
            if value is not None:
                hello[key] = value
        try:
            self.hello = self.call("hello", hello)
        except BaseException:
            self._socket.close()
            raise
        self._frame_bytes_max = self.hello["frameBytesMax"]
        self._in_flight_max = self.hello["inFlightMax"]
        self.personality = self.hello["personality"]
        self.ccsid = self.hello.get("ccsid")
        self.encoding = self.hello.get("encoding")

    # Frames and requests.

    def send(self, op, args):
        """Sends a request without waiting; returns its id, for wait()."""
        # Beyond inFlightMax the queue manager breaks the connection: read answers first.
        while len(self._waiting) >= self._in_flight_max:
            self._read_frame()
        request_id = self._next_id
        self._next_id += 1
        body = msgpack.packb([REQUEST, request_id, op, args], use_bin_type=True)
        self._socket.sendall(LENGTH.pack(len(body)) + body)
        self._waiting.add(request_id)
        return request_id

    def wait(self, request_id):
        """The result of a request sent; raises SanmqError if it failed."""
        while request_id not in self._answers:
            if request_id not in self._waiting:
                raise ValueError(f"request {request_id} is not in flight")
            self._read_frame()
        ok, result = self._answers.pop(request_id)
        if not ok:
            raise SanmqError(result["code"], result["message"], result.get("details"), request_id)
        return result

    def call(self, op, args):
        return self.wait(self.send(op, args))

    def _receive(self, count):
        while len(self._buffer) < count:
            chunk = self._socket.recv(max(65536, count - len(self._buffer)))
            if not chunk:
                raise SanmqError("E_CONNECTION_BROKEN", "the queue manager closed the connection")
            self._buffer += chunk
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def _read_frame(self):
        if self._broken is not None:
            raise self._broken
        try:
            (length,) = LENGTH.unpack(self._receive(LENGTH.size))
            if not 0 < length <= self._frame_bytes_max:
                raise SanmqError("E_BAD_FRAME", f"a frame of {length} bytes")
            frame = msgpack.unpackb(self._receive(length), raw=False)
        except SanmqError as error:
            self._broken = error
            raise
        kind = frame[0]
        if kind == EVENT:
            return
        request_id = frame[1]
        if kind == ERROR and request_id == 0:
            # About the connection itself: it is closing, and every request with it.
            error = frame[2]
            self._broken = SanmqError(error["code"], error["message"], error.get("details"), 0)
            raise self._broken
        self._waiting.discard(request_id)
        self._answers[request_id] = (kind == REPLY, frame[2])

    def close(self):
        """Ends the connection; the queue manager backs out its unit of work."""
        self._socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    # Both personalities.

    def commit(self):
        self.call("commit", {})

    def backout(self):
        self.call("backout", {})

    def inquire(self, queue):
        return self.call("inquire", {"queue": queue})

    # The mq personality.

    def put(self, queue, md, body, syncpoint=False, properties=None):
        """MQPUT of `body` (bytes) with `md`; returns the MQMD as put (MsgId, PutDate…)."""
        if md.Encoding is None:
            md = MQMD(**{**vars(md), "Encoding": self.encoding})
        reply = self.call("put", {"queue": queue, "md": md.pack(self.encoding, self.ccsid),
                                  "body": bytes(body), "syncpoint": syncpoint,
                                  "properties": to_typed_map(properties)})
        return MQMD.unpack(reply["md"], self.encoding, self.ccsid)

    def get(self, queue, syncpoint=False, wait_ms=0, convert=False, ccsid=None,
            encoding=None, msg_id=None, correl_id=None, selector=None):
        """MQGET: (MQMD, body, properties, warning); warning is None or a map of the
        queue manager's `warning`, `reason` and `detail` (the body came back unconverted)."""
        args = {"queue": queue, "syncpoint": syncpoint, "waitMs": wait_ms, "convert": convert}
        for key, value in (("ccsid", ccsid), ("encoding", encoding), ("messageId", msg_id),
                           ("correlationId", correl_id), ("selector", selector)):
            if value is not None:
                args[key] = value
        reply = self.call("get", args)
        md = MQMD.unpack(reply["md"], self.encoding, self.ccsid)
        warning = None
        if reply.get("warning") is not None:
            warning = {key: reply.get(key) for key in ("warning", "reason", "detail")}
        return md, reply["body"], from_typed_map(reply.get("properties")), warning

    # The jms personality.

    def jms_put(self, queue, message, syncpoint=False):
        """Sends a JMS message (a map: type, text/bytes/map, properties, headers); returns
        {messageId, timestamp}. Property and map values are plain Python values."""
        return whole_times(self.call("put", self.jms_put_args(queue, message, syncpoint)))

    @staticmethod
    def jms_put_args(queue, message, syncpoint=False):
        """The arguments of a jms put, for send() when pipelining."""
        wire = dict(message, properties=to_typed_map(message.get("properties")))
        if "map" in message:
            wire["map"] = to_typed_map(message["map"])
        return {"queue": queue, "message": wire, "syncpoint": syncpoint}

    def jms_get(self, queue, selector=None, wait_ms=0, syncpoint=False):
        """Receives a JMS message (a map), properties as plain Python values."""
        args = {"queue": queue, "waitMs": wait_ms, "syncpoint": syncpoint}
        if selector is not None:
            args["selector"] = selector
        message = whole_times(self.call("get", args))
        message["properties"] = from_typed_map(message.get("properties"))
        if message.get("type") == "map":
            message["map"] = from_typed_map(message["map"])
        return message
