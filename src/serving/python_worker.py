# Cairn's Python model worker (src/serving/python_worker_pool.h). CMake compiles this file
# into the binary; the pool runs it as `python3 -c <this file> MODEL_DIR` with fd 3 a Unix
# stream socket to the server, stdin /dev/null and stdout on the server's stderr.
#
# The process started is the zygote: it imports MLflow, loads the model once
# (mlflow.pyfunc.load_model) and answers on fd 3 with a READY frame (b"R") or an ERROR frame
# (b"E" + "ExceptionType: message"). Then, for every 1-byte command b"F" that arrives with one
# file descriptor (SCM_RIGHTS: a Unix stream socket), it forks a worker that serves that
# socket and answers b"P" + the worker's pid (int32). EOF on fd 3 ends the zygote.
#
# A worker answers one request at a time until EOF. Every frame (both directions) is a
# little-endian u32 byte length followed by that many bytes:
#   request   b"P" u32 rows, u32 columns, u32 header length; the header: per column a u16
#             name length, the UTF-8 name and a kind byte; then per column, in the same
#             order, rows values of its kind:
#               b"d" float64 each (null = NaN)   b"q" int64 each   b"b" uint8 each (0/1)
#               b"s" per row u32 length + UTF-8 (0xFFFFFFFF = null)
#               b"o" per row a tag: b"n" null | b"q" int64 | b"d" float64 | b"b" uint8 |
#                    b"s" u32 length + UTF-8
#   response  b"O" u32 n, then n float64 predictions
#             b"I" + message: the model refused the input (MLflow's schema enforcement)
#             b"E" + message: the model failed ("ExceptionType: message")

import os
import signal
import socket
import struct
import sys
import traceback


def frame(body):
    return struct.pack("<I", len(body)) + body


def error_text(exc):
    return ("%s: %s" % (type(exc).__name__, exc)).encode("utf-8", "replace")


def recv_exact(sock, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            return None
        got += k
    return buf


# Decoding plans by request header (column names and kinds): a service sends the same
# columns again and again, and building a pandas Index from names costs more than the rest
# of a one-row request.
_plans = {}


def decode_plan(header, pd):
    names = []
    kinds = []
    off = 0
    while off < len(header):
        (nlen,) = struct.unpack_from("<H", header, off)
        off += 2
        names.append(header[off:off + nlen].decode("utf-8"))
        off += nlen
        kinds.append(header[off])
        off += 1
    plan = (pd.Index(names), names, kinds, all(k == 0x64 for k in kinds) and len(kinds) > 0)
    if len(_plans) >= 256:
        _plans.clear()
    _plans[header] = plan
    return plan


def decode_request(buf, np, pd):
    rows, ncols, hlen = struct.unpack_from("<III", buf, 1)
    header = bytes(buf[13:13 + hlen])
    plan = _plans.get(header) or decode_plan(header, pd)
    index, names, kinds, all_double = plan
    off = 13 + hlen
    if all_double:
        # One float64 block, column after column: a single pandas block without copies.
        matrix = np.frombuffer(buf, dtype="<f8", count=rows * ncols, offset=off)
        return pd.DataFrame(matrix.reshape(ncols, rows).T, columns=index, copy=False)
    columns = {}
    for name, kind in zip(names, kinds):
        if kind == 0x64:  # d
            col = np.frombuffer(buf, dtype="<f8", count=rows, offset=off)
            off += 8 * rows
        elif kind == 0x71:  # q
            col = np.frombuffer(buf, dtype="<i8", count=rows, offset=off)
            off += 8 * rows
        elif kind == 0x62:  # b
            col = np.frombuffer(buf, dtype="u1", count=rows, offset=off).astype(bool)
            off += rows
        else:
            col = np.empty(rows, dtype=object)
            for r in range(rows):
                tag = kind
                if kind == 0x6F:  # o
                    tag = buf[off]
                    off += 1
                if tag == 0x73:  # s
                    (slen,) = struct.unpack_from("<I", buf, off)
                    off += 4
                    if slen == 0xFFFFFFFF:
                        col[r] = None
                    else:
                        col[r] = bytes(buf[off:off + slen]).decode("utf-8")
                        off += slen
                elif tag == 0x6E:  # n
                    col[r] = None
                elif tag == 0x71:
                    col[r] = struct.unpack_from("<q", buf, off)[0]
                    off += 8
                elif tag == 0x64:
                    col[r] = struct.unpack_from("<d", buf, off)[0]
                    off += 8
                elif tag == 0x62:
                    col[r] = bool(buf[off])
                    off += 1
                else:
                    raise ValueError("unknown cell tag %r in a request frame" % tag)
        columns[name] = col
    return pd.DataFrame(columns)


def encode_predictions(out, rows, np, pd):
    if isinstance(out, (pd.DataFrame, pd.Series)):
        arr = out.to_numpy()
    else:
        arr = np.asarray(out)
    if arr.ndim == 2:
        if arr.shape[1] == 1:
            arr = arr[:, 0]
        elif arr.shape[1] == 2:
            arr = arr[:, 1]  # [P(class 0), P(class 1)]: the positive class
        else:
            raise ValueError("the model returned %d values per row; Cairn serves one number per "
                             "row (save it with a predict function that returns one)"
                             % arr.shape[1])
    elif arr.ndim != 1:
        raise ValueError("the model returned an array of shape %s; expected one number per row"
                         % (arr.shape,))
    try:
        arr = np.ascontiguousarray(arr, dtype="<f8")
    except (TypeError, ValueError):
        raise ValueError("the model returned non-numeric predictions (e.g. %r); Cairn serves "
                         "numbers" % (arr[0] if len(arr) else None,))
    if len(arr) != rows:
        raise ValueError("the model returned %d predictions for %d rows" % (len(arr), rows))
    return b"O" + struct.pack("<I", rows) + arr.tobytes()


def serve(sock, model, np, pd, invalid_input):
    reader = sock.makefile("rb", buffering=65536)
    while True:
        head = reader.read(4)
        if len(head) < 4:
            return
        (n,) = struct.unpack("<I", head)
        body = reader.read(n)
        if len(body) < n:
            return
        try:
            if body[:1] != b"P":
                raise ValueError("unknown request kind %r" % body[:1])
            rows = struct.unpack_from("<I", body, 1)[0]
            df = decode_request(body, np, pd)
            try:
                out = model.predict(df)
            except Exception as exc:
                if invalid_input(exc):
                    sock.sendall(frame(b"I" + error_text(exc)))
                    continue
                raise
            reply = encode_predictions(out, rows, np, pd)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            reply = b"E" + error_text(exc)
        sock.sendall(frame(reply))


def main():
    sys.stdout = sys.stderr
    control = socket.socket(fileno=3)
    try:
        import numpy as np
        import pandas as pd
        import mlflow.pyfunc
        from mlflow.exceptions import MlflowException

        model = mlflow.pyfunc.load_model(sys.argv[1])
    except BaseException as exc:
        traceback.print_exc(file=sys.stderr)
        control.sendall(frame(b"E" + error_text(exc)))
        sys.exit(1)

    def invalid_input(exc):
        return isinstance(exc, MlflowException) and exc.error_code == "INVALID_PARAMETER_VALUE"

    # Workers are reaped by the kernel, not left as zombies of the zygote.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    control.sendall(frame(b"R"))
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(control, 1, 1)
        except OSError:
            return
        if not msg:
            return
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            control.sendall(b"P" + struct.pack("<i", -1))
            continue
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            control.close()
            sock = socket.socket(fileno=fds[0])
            try:
                serve(sock, model, np, pd, invalid_input)
            finally:
                sys.stderr.flush()
                os._exit(0)
        os.close(fds[0])
        control.sendall(b"P" + struct.pack("<i", pid))


main()
