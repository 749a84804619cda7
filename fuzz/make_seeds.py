#!/usr/bin/env python3
"""Writes the committed seed corpora fuzz/seeds/<target>/ (run from anywhere; rewrites them).

Sources: the golden transcripts in examples/captures/ (every module line, every `>>` command,
the whole streams), byte-string literals of module lines and commands in qmt-proto's tests and
sources, and a few hand-built streams (counted +QMTRECV payloads holding CR LF, the split form,
prompts, over-long lines). Input layouts follow the targets' doc comments:
codec_chunks = [k, k chunk sizes..., stream]; decode_stream = [option byte, capture...];
link_core = [script byte, command indices..., k, k step bytes..., module stream];
sim_commands = [option byte, k, k step bytes..., host stream], or with bit 5 of k
[option byte, k, k step bytes..., broker script, host stream] (inbound PUBLISH/PUBREL, see SIM_RECV).
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
    # Spec §10: boot URCs, bare identity answers, registration URC vs query answer, PDP loss.
    "net-boot": b"RDY\r\n\r\nAPP RDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n"
    b"\r\n+QIND: SMS DONE\r\n\r\n+QIND: PB DONE\r\n",
    "net-identity": b"ATI\r\r\nQuectel\r\nEC200U\r\nRevision: EC200UCNAAR02A01M08\r\n\r\nOK\r\n"
    b"AT+GSN\r\r\n861234567890123\r\n\r\nOK\r\n\r\n861234567890123\r\n"
    b"AT+QCCID\r\r\n+QCCID: 89860116838002543581\r\n\r\nOK\r\n",
    "net-reg": b'AT+CEREG?\r\r\n+CEREG: 1,"1A2B","01C3D04",7\r\n\r\n+CEREG: 2,1,"1A2B","01C3D04",7\r\n'
    b'\r\nOK\r\n\r\n+CGREG: 5\r\n\r\n+CREG: 2,"00A1","1F"\r\n',
    "net-pdp": b'AT+QIACT?\r\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\nOK\r\n\r\n+QIURC: "pdpdeact",1\r\n'
    b"\r\n+QMTSTAT: 0,1\r\n\r\nPOWERED DOWN\r\n",
    # Spec §10.8/§10.9: a listing, a refused upload, the clock and an NTP result after OK.
    "files-clock": b'AT+QFLST="*"\r\r\n+QFLST: "UFS:ca.pem",1758\r\n\r\n+QFLST: "RAM:x",0\r\n\r\nOK\r\n'
    b'\r\n+CME ERROR: 407\r\n\r\n+CCLK: "00/01/01,00:00:05+00"\r\n\r\nOK\r\n\r\nOK\r\n'
    b'\r\n+QNTP: 0,"2024/05/17,09:30:00+32"\r\n',
}

# Spec §10 module lines (URCs, answers, tolerated and malformed variants) and host commands.
NET_LINES = [
    b"APP RDY", b"+CFUN: 1", b"+CFUN: 4", b"+CPIN: READY", b"+CPIN: SIM PIN", b"+CPIN: NOT READY",
    b"+CPIN: PH-NET PIN", b"+QUSIM: 1", b"+QIND: SMS DONE", b"+QIND: PB DONE", b'+QIND: "csq",20,99',
    b"+QSIMSTAT: 1,0", b"+QSIMSTAT: 1,2", b'+QIURC: "pdpdeact",1', b'+QIURC: "recv",0',
    b"POWERED DOWN", b"NORMAL POWER DOWN", b"PSM POWER DOWN",
    b"Quectel", b"EC200U", b"Revision: EC200UCNAAR02A01M08", b"861234567890123", b"460011234567890",
    b"+QCCID: 89860116838002543581", b"+CSQ: 31,99", b"+CSQ: 99,99", b'+QCSQ: "LTE",-52,-81,195,-10',
    b'+QCSQ: "NOSERVICE"', b'+QNWINFO: "FDD LTE","46001","LTE BAND 3",1650',
    b'+QNWINFO: "FDD LTE",46011,"LTE BAND 3",1825', b"+QNWINFO: No Service",
    b'+COPS: 0,0,"CHINA MOBILE",7', b"+COPS: 0", b'+QICSGP: 1,"internet","","",0',
    b'+QICSGP: 3,"apn","me","secret"', b'+QIACT: 1,1,1,"10.7.157.1"', b"+QIACT: 2,0,2",
    b"+CGATT: 1", b"+IFC: 2,2", b"+IPR: 921600", b'+CGPADDR: 1,"10.7.157.1"', b"+CGPADDR: 1,10.0.0.2",
    # Spec §10.8 files and §10.9 clock.
    b'+QFLST: "UFS:cacert.pem",1758', b'+QFLST: "RAM:x",0', b'+QFLST: "UFS:a"', b"+CME ERROR: 407",
    b'+CCLK: "24/05/17,09:30:00+32"', b'+CCLK: "80/01/06,00:00:00-04"', b'+CCLK: "24/13/17,09:30:00+32"',
    b'+QNTP: 0,"2024/05/17,09:30:00+32"', b"+QNTP: 565", b'+QLTS: "2019/01/13,03:40:48+32,0"',
    b'+QLTS: "24/05/17,09:30:00+32"',
]
for _p in (b"+CREG", b"+CGREG", b"+CEREG"):
    NET_LINES += [
        _p + b': 1,"1A2B","01C3D04",7', _p + b': 2,1,"1A2B","01C3D04",7', _p + b": 1", _p + b": 0,1",
        _p + b': 2,1,"1A2B","01C3D04",7,"3C"', _p + b': 1,"1A2B"',
    ]
NET_COMMANDS = [
    b"ATI", b"AT+CGMI", b"AT+CGMM", b"AT+CGMR", b"AT+GSN", b"AT+CGSN", b"AT+QCCID", b"AT+CIMI",
    b"AT+CPIN?", b'AT+CPIN="1234"', b'AT+CPIN="12a4"', b"AT+QSIMSTAT?", b"AT+CSQ", b"AT+QCSQ",
    b"AT+QNWINFO", b"AT+COPS?", b"AT+CREG=2", b"AT+CGREG?", b"AT+CEREG=2", b"AT+CEREG?",
    b'AT+QICSGP=1,1,"internet","","",0', b'AT+QICSGP=1,3,"CMNET","u","p"', b"AT+QICSGP=1",
    b"AT+QIACT?", b"AT+QIACT=1", b"AT+QIDEACT=1", b"AT+CGATT?", b"AT+IFC=2,2", b"AT+IFC?", b"AT+IPR=921600", b"AT+IPR?", b"AT+CGPADDR=1", b"AT+CFUN=1",
    b"AT+CFUN=1,1", b"AT+CFUN?", b"AT+QPOWD", b"AT+QPOWD=0",
    b"AT+QFLST", b'AT+QFLST="*"', b'AT+QFLST="UFS:*"', b'AT+QFDEL="UFS:ca.pem"', b'AT+QFDEL="*"',
    b"AT+CCLK?", b'AT+QNTP=1,"pool.ntp.org"', b'AT+QNTP=1,"pool.ntp.org",123', b"AT+QLTS",
    b"AT+QLTS=2",
]

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


def host_stream(path):
    """A text log's host side as the bytes the host writes: commands end in CR, data is raw."""
    out = b""
    for d, text in text_log_lines(path):
        if d == b">>":
            out += text + b"\r" if text[:2].upper() == b"AT" else text
    return out


# link_core: indices into its TABLE (fuzz_targets/link_core.rs), with module streams answering them.
# TABLE: 0 AT, 1 ATE0, 2 ATE1, 3 QMTOPEN, 4 QMTOPEN?, 5 QMTCONN, 6 QMTCONN?, 7 QMTSUB, 8 QMTUNS,
# 9 QMTPUBEX "hello", 10 QMTPUBEX "OK\r\n", 11 QFUPL "abcd", 12 recv/mode, 13 QMTRECV?,
# 14 QMTRECV=0,1, 15 QMTDISC, 16 QMTCLOSE, 17 QSSLCFG sslversion.
LINK_SESSIONS = {
    "open-conn-sub": (
        [3, 5, 7],
        b'AT+QMTOPEN=0,"broker.example",1883\r\r\nOK\r\n\r\n+QMTOPEN: 0,0\r\n'
        b'AT+QMTCONN=0,"client"\r\r\nOK\r\n\r\n+QMTCONN: 0,0,0\r\n'
        b'AT+QMTSUB=0,1,"t/#",1\r\r\nOK\r\n\r\n+QMTSUB: 0,1,0,1\r\n',
    ),
    "ate0-pubex": ([1, 9], b"ATE0\r\r\nOK\r\n\r\n> \r\nOK\r\n\r\n+QMTPUBEX: 0,1,0\r\n"),
    "pubex-echo": ([9, 10], b'AT+QMTPUBEX=0,1,1,0,"t",5\r\r\n> hello\r\nOK\r\n\r\n+QMTPUBEX: 0,1,0\r\n'
                   b'AT+QMTPUBEX=0,0,0,0,"t",4\r\r\n> OK\r\n\r\nOK\r\n'),
    "qfupl": ([11], b'AT+QFUPL="UFS:a.pem",4,10\r\r\nCONNECT\r\nabcd\r\n+QFUPL: 4,0404\r\n\r\nOK\r\n'),
    "reads": ([4, 6, 13, 17], b'\r\n+QMTOPEN: 0,"h",1883\r\n\r\nOK\r\n\r\n+QMTCONN: 0,3\r\n\r\nOK\r\n'
              b'\r\n+QMTRECV: 0,0,0,0,0,0\r\n\r\nOK\r\n\r\n+QSSLCFG: "sslversion",1,4\r\n\r\nOK\r\n'),
    "late-final-marker": ([0, 12, 14], b"\r\n+QMTPUBEX: (0-5)\r\n\r\nOK\r\n\r\nOK\r\n\r\nOK\r\n"),
    "rdy-mid-command": ([15, 16], b"\r\nRDY\r\n\r\nOK\r\n\r\n+QMTOPEN: (0-5),\"<host_name>\",(1-65535)\r\n\r\nOK\r\n"),
    "recv-urc": ([14], b'\r\n+QMTRECV: 0,1,"t",5,"a\r\nbc"\r\n\r\n+QMTRECV: 0,1,"t",5,"hello"\r\n\r\nOK\r\n'),
}
# Step bytes: bits 0-4 chunk size - 1, bits 5-7 clock class (0 none … 7 121 s).
LINK_STEPS = {"whole": b"\x1f", "c3-slow": b"\x02\x62", "timeouts": b"\x07\xe7\xa3\x00"}

# sim_commands: hand-built host sessions.
SIM_SESSIONS = {
    "basics": b"AT\rATE1\rAT+CMEE=2\rAT+CMEE?\rATI\rnoise\r\nAT+QMTOPEN=?\r",
    "cfg": b'AT+QMTCFG="version",0,4\rAT+QMTCFG="version",0\rAT+QMTCFG="keepalive",1,30\r'
    b'AT+QMTCFG="session",2,0\rAT+QMTCFG="recv/mode",0,1,1\rAT+QMTCFG="recv/mode",0\r'
    b'AT+QMTCFG="send/mode",0,1\rAT+QMTCFG="dataformat",0,1,1\rAT+QMTCFG="view/mode",0,1\r'
    b'AT+QMTCFG="edit/timeout",0,1,2\rAT+QMTCFG="ssl",0,1,2\rAT+QMTCFG="ssl",0\r'
    b'AT+QSSLCFG="sslversion",2,4\rAT+QSSLCFG="cacert",2,"UFS:ca.pem"\rAT+QSSLCFG="cacert",2\r',
    "willex": b'AT+QMTCFG="willex",0,1,1,1,"will/t",5\rbye!!AT+QMTCFG="willex",0\r',
    "session": b'AT+QMTOPEN=0,"broker.example",1883\rAT+QMTOPEN?\rAT+QMTCONN=0,"c","u","p"\r'
    b'AT+QMTCONN?\rAT+QMTSUB=0,1,"t/#",1,"u/+",2\rAT+QMTPUBEX=0,1,1,0,"t/a",5\rhello'
    b'AT+QMTPUBEX=0,2,2,1,"t/b",3\rxyzAT+QMTPUBEX=0,0,0,0,"t/c",2\rhiAT+QMTUNS=0,2,"t/#"\r'
    b"AT+QMTRECV?\rAT+QMTRECV=0\rAT+QMTDISC=0\rAT+QMTCLOSE=0\r",
    "qfupl": b'AT+QFUPL="UFS:ca.pem",4,10\rabcdAT+QFUPL="UFS:k.pem",8,1\rab',
    "recv-mode": b'AT+QMTCFG="recv/mode",1,1,1\rAT+QMTOPEN=1,"h",8883\rAT+QMTCONN=1,"c"\r'
    b"AT+QMTRECV?\rAT+QMTRECV=1,0\rAT+QMTCLOSE=1\r",
    "files-clock": b'AT+QFUPL="UFS:ca.pem",4,10\rabcdAT+QFUPL="UFS:ca.pem",4,10\rAT+QFLST="*"\r'
    b'AT+QFLST="RAM:*"\rAT+QFLST="UFS:ca.pem"\rAT+QFDEL="UFS:ca.pem"\rAT+QFDEL="UFS:ca.pem"\r'
    b'AT+QFDEL="*"\rAT+CCLK?\rAT+QNTP=1,"pool.ntp.org"\rAT+QNTP=1,"pool.ntp.org",123\rAT+QLTS\rAT+QLTS=1\r',
    "errors": b'AT+QMTPUBEX=0,1,1,0,"t",5\rAT+QMTCONN=0,"c"\rAT+QMTDISC=0\rAT+QMTOPEN=9,"h",1\r'
    b'AT+QMTOPEN=0,"h",1883\rAT+QMTOPEN=0,"h",1883\rAT+QMTPUBEX=0,0,0,0,"t",99999\r',
}

# sim_commands with a broker script (fuzz_targets/sim_commands.rs): the fake broker sends PUBLISH
# (QoS 0/1/2, DUP, retain) and PUBREL to a connected client at chosen points of the host stream.
# Script = [cfg, n, n descriptors]; cfg bit 0 recv/mode 1 (slots), bit 1 msg_len_enable, bit 2
# dataformat recv hex, bit 3 no automatic PUBREL. Descriptor = [flags, at (u16 BE, host bytes
# since the previous point), id (u16 BE), topic_len, topic, payload_len, payload]; flags bits 0-1
# QoS 0-2 or 3 = PUBREL, bit 2 DUP, bit 3 the broker loses the module's ack, bit 4 retain, bits
# 5-7 client.
PUBREL = 3


def pub(qos, msgid, topic, payload, client=0, dup=False, lose=False, retain=False):
    return ("inject", qos | dup << 2 | lose << 3 | retain << 4 | client << 5, msgid, topic, payload)


def pubrel(msgid, client=0):
    return ("inject", PUBREL | client << 5, msgid, b"", b"")


def sim_script(cfg, parts):
    """Host bytes and injections in stream order -> (script, host)."""
    host, descs, last = b"", [], 0
    flat = [q for p in parts for q in (p if isinstance(p, list) else [p])]
    for part in flat:
        if isinstance(part, bytes):
            host += part
            continue
        _, flags, msgid, topic, payload = part
        at = len(host) - last
        last = len(host)
        descs.append(bytes([flags]) + at.to_bytes(2, "big") + msgid.to_bytes(2, "big")
                     + bytes([len(topic)]) + topic + bytes([len(payload)]) + payload)
    return bytes([cfg, len(descs)]) + b"".join(descs), host


def pause():
    """A PUBREL to client 5, never connected: sends nothing, but splits the chunk there, so the
    network answers (connect, CONNACK, SUBACK) before the next command, as a host waits for them."""
    return pubrel(0, client=5)


CONNECT0 = [b'AT+QMTOPEN=0,"broker.example",1883\r', pause(), b'AT+QMTCONN=0,"dev"\r', pause(),
            b'AT+QMTSUB=0,1,"dev/#",2\r']
CONNECT1 = [b'AT+QMTOPEN=1,"broker.example",8883\r', pause(), b'AT+QMTCONN=1,"dev1","u","p"\r', pause(),
            b'AT+QMTSUB=1,7,"#",1\r']
ODD = b'a\r\nb,"c\0\xff> d!\r\nOK\r\n'  # CR LF, quote, NUL, 0xFF, a fake prompt and final
SIM_RECV = {
    # recv/mode 0 without lengths: QoS 0, 1, 2 (the broker releases QoS 2 at once), retain,
    # payloads with quotes, NUL, 0xFF, commas, an empty one.
    "recv-urc-qos012": (0, [
        CONNECT0,
        pub(0, 0, b"dev/a", b"hello"),
        pub(1, 1, b"dev/b", b'q"uo,te\0\xff'),
        pub(2, 2, b"dev/c", b"exactly once", retain=True),
        pub(1, 3, b"dev/\xc3\xa9", b""),
        b"AT+QMTRECV?\r",
        pub(2, 4, b"dev/d", b"30,not a length"),
        b"AT+QMTDISC=0\r",
    ]),
    # recv/mode 0 with lengths: payloads holding CR LF (counted by the hook).
    "recv-urc-len-crlf": (2, [
        CONNECT0,
        pub(0, 0, b"dev/x", ODD),
        pub(1, 9, b"dev/y", ODD),
        pub(2, 10, b"dev/z", b"\r\n"),
        pub(2, 11, b"dev/z", ODD + ODD, dup=True),
        b"AT\r",
    ]),
    # recv/mode 1: seven QoS 1/2 messages, five slots; the last two wait unacknowledged until
    # slots are read; a DUP redelivery of a held one; reads one by one and all at once.
    "recv-slots": (3, [
        CONNECT0,
        pub(1, 1, b"dev/1", b"one"),
        pub(2, 2, b"dev/2", b"two\r\n"),
        pub(1, 3, b"dev/3", ODD),
        pub(0, 0, b"dev/4", b"four"),
        pub(2, 5, b"dev/5", b"five"),
        pub(1, 6, b"dev/6", b"six (held)"),
        pub(2, 7, b"dev/7", b"seven (held)"),
        pub(1, 6, b"dev/6", b"", dup=True),
        b"AT+QMTRECV?\r",
        b"AT+QMTRECV=0,0\r",
        b"AT+QMTRECV=0,3\rAT+QMTRECV?\r",
        b"AT+QMTRECV=0\r",
        pub(1, 8, b"dev/8", b"left in a slot"),
        b"AT+QMTRECV?\r",
    ]),
    # Inbound QoS 2 without automatic PUBREL: PUBREC lost, DUP redelivery (answered PUBREC, not
    # delivered again), PUBREL by descriptor, a stray PUBREL, id reuse after PUBCOMP; QoS 1 with a
    # lost PUBACK delivered twice.
    "recv-qos2-dup": (8, [
        CONNECT0,
        pub(2, 300, b"dev/q2", b"once", lose=True),
        pub(2, 300, b"dev/q2", b"", dup=True),
        pubrel(300),
        pubrel(301),
        pub(2, 300, b"dev/q2", b"again, new message"),
        pubrel(300),
        pub(1, 65535, b"dev/q1", b"twice", lose=True),
        pub(1, 65535, b"dev/q1", b"", dup=True),
        b"AT+QMTUNS=0,2,\"dev/#\"\r",
    ]),
    # dataformat recv hex with lengths, recv/mode 1, two clients.
    "recv-hex-two-clients": (7, [
        CONNECT0,
        CONNECT1,
        pub(1, 1, b"dev/h", ODD),
        pub(2, 2, b"dev1/h", b"\x00\xff", client=1),
        pub(0, 0, b"x", b"\r\n", client=1),
        b"AT+QMTRECV=0\rAT+QMTRECV=1,0\r",
    ]),
    # Host-side settings while messages arrive: recv/mode and view/mode 1 (split form), hex off.
    "recv-host-settings": (0, [
        CONNECT0,
        b'AT+QMTCFG="recv/mode",0,0,1\r',
        pub(1, 1, b"dev/a", ODD),
        b'AT+QMTCFG="view/mode",0,1\r',
        pub(2, 2, b"dev/b", ODD),
        b'AT+QMTCFG="recv/mode",0,1,0\rAT+QMTCFG="dataformat",0,0,1\r',
        pub(0, 0, b"dev/c", ODD),
        b"AT+QMTRECV=0\r",
    ]),
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
            if lit.startswith(b"+") or lit.rstrip() in (
                b"OK", b"ERROR", b"CONNECT", b"RDY", b"APP RDY", b"POWERED DOWN", b"NORMAL POWER DOWN",
                b"PSM POWER DOWN",
            ):
                lines.setdefault(lit, src.stem)
    for text in NET_LINES:
        lines.setdefault(text, "net")
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
    for text in NET_COMMANDS:
        cmds.setdefault(text, "net")
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

    # link_core: [script byte, indices..., k, steps..., stream].
    for name, (cmds, stream) in LINK_SESSIONS.items():
        for sname, steps in LINK_STEPS.items():
            script = bytes([len(cmds) | (len(cmds) << 3)]) + bytes(cmds)
            write("link_core", f"{name}-{sname}", script + bytes([len(steps)]) + steps + stream)
        # One command up front, the others after the first chunks.
        write("link_core", f"{name}-later", bytes([len(cmds) | (1 << 3)]) + bytes(cmds) + b"\x01\x0f" + stream)
    for name in ("aliyun", "aws-tls"):
        write("link_core", f"{name}-open-conn", b"\x1a\x03\x05\x07\x01\x3f" + module_stream(logs[name])[:2000])

    # sim_commands: [options, k, steps..., host stream]; option bit 0 feeds ATE0 first, bits 1-7
    # answer the network (1 = connected / CONNACK accepted).
    sims = {n: host_stream(p) for n, p in logs.items()}
    sims.update(SIM_SESSIONS)
    for name, host in sims.items():
        write("sim_commands", f"{name}-echo", b"\xfe\x01\x1f" + host)
        write("sim_commands", f"{name}-ate0", b"\xff\x02\x0f\x62" + host)
        write("sim_commands", f"{name}-refused", b"\x55\x01\xbf" + host)
    # With a broker script (bit 5 of k): echo off, every connect and CONNACK accepted; 32-byte
    # chunks without time, and 16/3-byte chunks with the clock moving.
    for name, (cfg, parts) in SIM_RECV.items():
        script, host = sim_script(cfg, parts)
        write("sim_commands", f"{name}-ate0", b"\xff\x21\x1f" + script + host)
        write("sim_commands", f"{name}-c3-slow", b"\xff\x22\x0f\x62" + script + host)

    # line_damage: [n, per message: msgid (2 bytes LE), length, payload; per message a damage
    # byte (bit 7 damaged, bit 6 drop, bits 0-5 offset) and the inserted byte; tail].
    def damage_seed(msgs, damages, tail=b""):
        out = bytes([len(msgs)])
        for msgid, payload in msgs:
            out += msgid.to_bytes(2, "little") + bytes([len(payload)]) + payload
        return out + damages + tail
    hello = [(1, b"hello"), (2, b"a\r\nOK\r\n"), (3, b'{"relay":1}')]
    write("line_damage", "intact", damage_seed(hello, b"\x00\x00\x00"))
    write("line_damage", "drop", damage_seed(hello, b"\xc2\x00\x00"))
    write("line_damage", "insert", damage_seed(hello, b"\x00\x83\x22\x00"))
    write("line_damage", "tail", damage_seed(hello, b"\x00\x00\xc1", b"\r\n+QMTRECV: 0,9,\"t\",99,\"x\r\nOK\r\n"))
    # Found by the fuzzer: a run-on swallowed a payload holding a line that reads as a message.
    write("line_damage", "payload-looks-like-a-line", bytes.fromhex("3d327d8000c10d0a2b516d54524543563a20302c392c22745d563f2c2c222c2274ffffc0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0ffff3effffffff000043780d0a0078c500"))

    for t in sorted(SEEDS.iterdir()):
        files = list(t.iterdir())
        print(f"{t.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")


if __name__ == "__main__":
    main()
