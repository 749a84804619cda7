#!/usr/bin/env python3
"""Writes the committed seed corpora fuzz/seeds/<target>/ (run from anywhere; rewrites them).

Sources: the golden transcripts in examples/captures/ (every module line, every `>>` command,
the whole streams), byte-string literals of module lines and commands in qmt-proto's tests and
sources, and a few hand-built streams (counted +QMTRECV payloads holding CR LF, the split form,
prompts, over-long lines). Input layouts follow the targets' doc comments:
codec_chunks = [k, k chunk sizes..., stream]; decode_stream = [option byte, capture...].
"""
import hashlib
import pathlib
import re
import shutil

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
CAPS = ROOT / "examples" / "captures"
SEEDS = FUZZ / "seeds"


def text_log_lines(path):
    for raw in path.read_bytes().split(b"\n"):
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if line.startswith(b">>") or line.startswith(b"<<"):
            text = line[2:]
            if text.startswith(b" "):
                text = text[1:]
            yield line[:2], text


def module_stream(path):
    """A text log's module side as the bytes the module sends (spec §8)."""
    out = b""
    for d, text in text_log_lines(path):
        if d == b"<<":
            out += b"\r\n> " if text in (b">", b"> ") else b"\r\n" + text + b"\r\n"
    return out


def rust_byte_literals(path):
    """b"..." literals of a Rust file, unescaped."""
    src = path.read_text()
    for m in re.finditer(r'(?<![A-Za-z0-9_])b"((?:[^"\\]|\\.)*)"', src):
        body = m.group(1)
        out = bytearray()
        i = 0
        while i < len(body):
            c = body[i]
            if c == "\\":
                n = body[i + 1]
                if n == "x":
                    out.append(int(body[i + 2 : i + 4], 16))
                    i += 4
                    continue
                if n == "\n":  # line continuation
                    i += 2
                    while i < len(body) and body[i] in " \t\n":
                        i += 1
                    continue
                out += {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\", '"': b'"', "'": b"'"}[n]
                i += 2
                continue
            out += c.encode()
            i += 1
        yield bytes(out)


# Hand-built module streams.
PAYLOAD_CRLF = b'a\r\nb,"c\0> d!'
STREAMS = {
    "recv-quoted-crlf": b'\r\n+QMTRECV: 0,1,"dev/cmd",12,"' + PAYLOAD_CRLF + b'"\r\n\r\nOK\r\n',
    "recv-unquoted-crlf": b'\r\n+QMTRECV: 0,0,"t",12,' + PAYLOAD_CRLF + b"\r\n\r\n+QMTSTAT: 0,1\r\n",
    "recv-ends-in-cr": b'\r\n+QMTRECV: 0,0,"t",2,a\r\r\n\r\nOK\r\n',
    "recv-unlengthed": b'\r\n+QMTRECV: 1,0,"dev/json","{"a":1}"\r\n\r\n+QMTRECV: 0,0,"t",5,hello world\r\n',
    "recv-split": b'\r\n+QMTRECV: 0,0,"topic/pub",23\r\nline1\r\nline2\r\n"q",> x\r\n\r\nOK\r\n',
    "recv-split-then-lengthed": b'+QMTRECV: 2,7,"s",4\r\n\r\n\r\n\r\n+QMTRECV: 2,8,"s",4,\r\n\r\n\r\n',
    "recv-stored-status": b"\r\n+QMTRECV: 0,3\r\n\r\n+QMTRECV: 0,1,0,1,0,1\r\n\r\nOK\r\n",
    "prompt-ok-one-read": b'AT+QMTPUBEX=0,0,0,0,"t",5\r\r\nOK\r\n\r\n> hello\r\nOK\r\n\r\n+QMTPUBEX: 0,0,0\r\n',
    "prompt-lone-gt": b"\r\n> \r\n> \r\n>x\r\n\r\n>",
    "urc-inside-response": b"AT+QMTCONN=0,\"c\"\r\r\nOK\r\n\r\n+QMTCONN: 0,3\r\n\r\n+QMTSTAT: 0,1\r\n\r\nOK\r\n",
    "read-vs-result": b"AT+QMTOPEN?\r\r\n+QMTOPEN: 0,\"h\",1883\r\n\r\n+QMTOPEN: 1,0\r\n\r\nOK\r\n",
    "first-line-no-crlf": b"RDY\r\n\r\n+CPIN: READY\r\n\r\nPOWERED DOWN\r\n",
    "overlong-line": b"\r\nBEFORE\r\n\r\n" + b"x" * 100 + b"\r\n\r\nAFTER\r\n",
    "overlong-counted": b'\r\n+QMTRECV: 0,0,"t",80,' + b"ab\r\n" * 20 + b"\r\n\r\nOK\r\n",
    "overlong-split": b'\r\n+QMTRECV: 0,0,"t",70\r\n' + b"\r\n" * 35 + b"\r\nOK\r\n",
    "qfupl-connect": b'AT+QFUPL="UFS:a.pem",4,10\r\r\nCONNECT\r\nabcd\r\n+QFUPL: 4,0404\r\n\r\nOK\r\n',
    "errors": b"\r\n+CME ERROR: 3\r\n\r\n+CME ERROR: operation not allowed\r\n\r\n+CMS ERROR: 500\r\n\r\nERROR\r\n",
}

# Hand-built text logs for decode_stream.
LOGS = {
    "log-pubex": b'>> AT+QMTPUBEX=0,1,1,0,"t",5\n<< >\n>> hello\n<< OK\n<< +QMTPUBEX: 0,1,0\n',
    "log-pubex-short-data": b'>> AT+QMTPUBEX=0,1,1,0,"t",9\n<< >\n>> hello\n<< OK\n',
    "log-qfupl": b'>> AT+QFUPL="UFS:a.pem",4,10\n<< CONNECT\n>> abcd\n<< +QFUPL: 4,0404\n<< OK\n',
    "log-qfupl-mismatch": b'>> AT+QFUPL="UFS:a.pem",4,10\n<< CONNECT\n>> abcd\n<< +QFUPL: 4,ffff\n<< OK\n',
    "log-reads": b">> AT+QMTCONN?\n<< +QMTCONN: 0,3\n<< OK\n>> AT+QMTRECV?\n<< +QMTRECV: 0,1,0,0,0,0\n<< OK\n>> AT+QMTRECV=0,1\n<< +QMTRECV: 0,0,\"t\",2,hi\n<< OK\n",
    "log-secrets": b'>> AT+QMTCONN=0,"c","u","secret"\n<< OK\n>> AT+QMTCONN=9,"c","u","secret"\n>> AT+QMTCFG="aliauth",0,"p","d"\n>> AT+QMTCFG="onenet",0,"p","x\n',
    "log-split": b'# split form\n<< +QMTRECV: 0,0,"t",5\n<< hello\n<< OK\n',
}


def write(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def main():
    if SEEDS.exists():
        shutil.rmtree(SEEDS)
    logs = {"aliyun": CAPS / "aliyun.log", "aws-tls": CAPS / "aws-tls.log"}
    raw = (CAPS / "ec200-raw.bin").read_bytes()

    # urc_parse: one module line per file.
    lines = {}
    for name, path in logs.items():
        for d, text in text_log_lines(path):
            if d == b"<<":
                lines.setdefault(text, f"{name}")
    for text in raw.split(b"\r\n"):
        if text.strip(b"\r\n"):
            lines.setdefault(text, "ec200-raw")
    for name, s in STREAMS.items():
        for text in s.split(b"\r\n"):
            if text:
                lines.setdefault(text, name)
    # Whole counted / split lines as the framer delivers them (CR LF inside).
    for text in [
        b'+QMTRECV: 0,1,"dev/cmd",12,"' + PAYLOAD_CRLF + b'"',
        b'+QMTRECV: 0,0,"t",12,' + PAYLOAD_CRLF,
        b'+QMTRECV: 0,0,"t",2,a\r',
        b'+QMTRECV: 0,0,"topic/pub",23\r\nline1\r\nline2\r\n"q",> x',
        b"> ",
    ]:
        lines.setdefault(text, "counted")
    proto = ROOT / "qmt-proto"
    for src in sorted(list((proto / "tests").glob("*.rs")) + list((proto / "src").glob("*.rs"))):
        for lit in rust_byte_literals(src):
            if lit.startswith(b"+") or lit.rstrip() in (b"OK", b"ERROR", b"CONNECT", b"RDY", b"POWERED DOWN"):
                lines.setdefault(lit, src.stem)
    for i, (text, origin) in enumerate(lines.items()):
        write("urc_parse", f"{origin}-{i:03}", text)

    # command_parse: every `>>` command line, and command literals of qmt-proto.
    cmds = {}
    for name, path in logs.items():
        for d, text in text_log_lines(path):
            if d == b">>" and text[:2].upper() == b"AT":
                cmds.setdefault(text, name)
    for text in raw.split(b"\r\n"):
        if text[:2].upper() == b"AT":
            cmds.setdefault(text.rstrip(b"\r"), "ec200-raw")
    for src in sorted(list((proto / "tests").glob("*.rs")) + list((proto / "src").glob("*.rs"))):
        for lit in rust_byte_literals(src):
            if lit[:2].upper() == b"AT":
                cmds.setdefault(lit, src.stem)
    for i, (text, origin) in enumerate(cmds.items()):
        write("command_parse", f"{origin}-{i:03}", text)

    # codec_chunks: [k, sizes..., stream].
    streams = {f"{n}": module_stream(p) for n, p in logs.items()}
    streams["ec200-raw"] = raw
    streams.update(STREAMS)
    chunkings = {"whole-bytewise": b"\x00", "c1-7-64": b"\x03\x01\x07\x40", "c5": b"\x01\x05", "c0-3": b"\x02\x00\x03"}
    for name, s in streams.items():
        for cname, prefix in chunkings.items():
            # Long streams only once: they cost more per execution.
            if len(s) > 1000 and cname != "c1-7-64":
                continue
            write("codec_chunks", f"{name}-{cname}", prefix + s)

    # decode_stream: [options, capture...]; option bits: 1 json, 2-4 recv_len, 8 prepend "<< ".
    captures = {n: p.read_bytes() for n, p in logs.items()}
    captures["ec200-raw"] = raw
    captures.update(LOGS)
    captures.update(STREAMS)
    for name, c in captures.items():
        opts = [0, 1, 2, 4] if name in logs or name == "ec200-raw" else [0, 4]
        for o in opts:
            write("decode_stream", f"{name}-o{o}", bytes([o]) + c)

    for t in sorted(SEEDS.iterdir()):
        files = list(t.iterdir())
        print(f"{t.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")


if __name__ == "__main__":
    main()
