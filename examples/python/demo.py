"""Scenarios of the Python client against a running queue manager, one JSON line each.

test/python-client.test.ts runs them and checks from TypeScript what Python did (and the
other way round); they also show how sanmq_client reads. Usage:

    /usr/bin/python3 demo.py --host H --port P [--secret S] --scenario NAME [--queue Q]

mq-ebcdic     an EBCDIC, big-endian application (CCSID 37, encoding 273) puts an MQSTR
              under syncpoint, checks another connection cannot see it, and commits
jms-selector  puts three JMS text messages and gets the one a selector picks
get-convert   gets one message with MQGMO_CONVERT into this connection's --ccsid and
              --encoding, and decodes its body in the CCSID its MQMD states
bad-secret    says hello with a wrong secret and reports the refusal
pipeline      sends --count jms puts before waiting for any answer, then waits for all

Exit status 0 on success; otherwise a message on stderr and status 1.
"""

import argparse
import json
import sys

from sanmq_client import (MQENC_BIG, MQFMT_STRING, MQMD, Connection, SanmqError, codec)

EBCDIC_TEXT = "Hello from Python [EBCDIC]"
SELECTOR = "color = 'red' AND weight > 2"


class DemoFailure(Exception):
    """A scenario saw something other than what the protocol promises."""


def connect(options, **codes):
    return Connection(options.host, options.port, secret=options.secret, **codes)


def mq_ebcdic(options):
    with connect(options, ccsid=37, encoding=MQENC_BIG) as connection:
        md = MQMD(Format=MQFMT_STRING, Priority=4, CorrelId=bytes([7]) * 24,
                  ReplyToQ="PY.REPLY", CodedCharSetId=37, Encoding=MQENC_BIG)
        put = connection.put(options.queue, md, EBCDIC_TEXT.encode("cp037"), syncpoint=True)
        # Until the commit, the message belongs to this connection's unit of work alone.
        with connect(options) as other:
            try:
                other.get(options.queue)
                visible = True
            except SanmqError as error:
                if error.code != "E_NO_MSG":
                    raise
                visible = False
        connection.commit()
    return {"msgId": put.MsgId.hex(), "correlId": put.CorrelId.hex(), "putDate": put.PutDate,
            "putTime": put.PutTime, "ccsid": put.CodedCharSetId, "encoding": put.Encoding,
            "format": put.Format, "replyToQ": put.ReplyToQ, "visibleBeforeCommit": visible}


def jms_selector(options):
    with connect(options) as connection:
        for seq, (color, weight) in enumerate((("red", 1.5), ("blue", 2.5), ("red", 3.5)), 1):
            connection.jms_put(options.queue, {
                "type": "text", "text": f"{color} {weight}",
                "properties": {"color": color, "weight": weight, "seq": seq}})
        got = connection.jms_get(options.queue, selector=SELECTOR)
    properties = got["properties"]
    return {"text": got.get("text"), "type": got["type"], "messageId": got["messageId"],
            "properties": properties,
            "types": {name: type(value).__name__ for name, value in properties.items()}}


def get_convert(options):
    with connect(options, ccsid=options.ccsid, encoding=options.encoding) as connection:
        md, body, _, warning = connection.get(options.queue, convert=True,
                                              wait_ms=options.wait_ms)
        connection_codes = {"ccsid": connection.ccsid, "encoding": connection.encoding}
    # Converted or not, the MQMD says which CCSID the body is in.
    return {"text": body.decode(codec(md.CodedCharSetId)), "ccsid": md.CodedCharSetId,
            "encoding": md.Encoding, "format": md.Format, "msgId": md.MsgId.hex(),
            "correlId": md.CorrelId.hex(), "replyToQ": md.ReplyToQ,
            "warning": warning and warning["warning"], "reason": warning and warning["reason"],
            "connection": connection_codes}


def bad_secret(options):
    secret = options.secret or "not-the-secret-of-this-listener"
    try:
        Connection(options.host, options.port, secret=secret).close()
    except SanmqError as error:
        return {"code": error.code, "requestId": error.request_id}
    raise DemoFailure("the queue manager accepted a hello with a wrong secret")


def pipeline(options):
    with connect(options) as connection:
        ids = [connection.send("put", Connection.jms_put_args(
            options.queue, {"type": "text", "text": f"pipelined {n}"}))
            for n in range(options.count)]
        replies = [connection.wait(request_id) for request_id in ids]
    if ids != sorted(set(ids)):
        raise DemoFailure(f"request ids are not strictly increasing: {ids}")
    message_ids = {reply["messageId"] for reply in replies}
    if len(message_ids) != len(replies):
        raise DemoFailure("two puts were given the same message id")
    return {"count": len(replies), "firstId": ids[0], "lastId": ids[-1]}


SCENARIOS = {"mq-ebcdic": mq_ebcdic, "jms-selector": jms_selector, "get-convert": get_convert,
             "bad-secret": bad_secret, "pipeline": pipeline}


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--queue", default="INTEROP")
    parser.add_argument("--ccsid", type=int, default=1208, help="get-convert's CCSID")
    parser.add_argument("--encoding", type=int, default=546, help="get-convert's encoding")
    parser.add_argument("--wait-ms", type=int, default=0, help="get-convert's wait")
    parser.add_argument("--count", type=int, default=200, help="pipeline's puts")
    return parser.parse_args()


def main():
    options = arguments()
    try:
        result = SCENARIOS[options.scenario](options)
    except (SanmqError, DemoFailure, OSError, ValueError) as error:
        print(f"demo.py {options.scenario}: {error}", file=sys.stderr)
        return 1
    # Bytes (a bytes property, say) print as hex: JSON has no bytes.
    print(json.dumps(result, default=lambda value: bytes(value).hex()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
