#!/usr/bin/env python3
"""The close-semantics matrix's raw client: drives one connection to a close-server
(test/sandbox/node/images/close-server.ts) directly, through a SOCKS5 proxy, an HTTP CONNECT proxy
or an HTTP proxy (absolute-form), ends it one way and prints one JSON line: body bytes, their
SHA-256, and how the connection ended ("end" for a FIN, "reset" for ECONNRESET).

usage: client.py VIA HOST PORT ENDING [ARGS]
  VIA     direct | socks5:PORT | connect:PORT | http:PORT (proxies on 127.0.0.1)
  ENDING  big N RATE     GET /big/N, read at RATE bytes/s; the server ends first
          get-shut N     GET /big/N, shut our write side at once, then read it all
          upload M N     send M pattern bytes, shut our write side, read the answer
          reset N        GET /reset/N; the server resets part way
          hold ID        GET /hold/ID, wait for "ready", reset; then ask /outcome/ID what the
                         server saw (the answer is in "outcome")
CLOSE_HEADER in the environment, if set, is one more request header line ("x-close: me").
Python reads with recv(), so an RST is always ECONNRESET here (libuv may report it as an end).
"""
import hashlib
import json
import os
import socket
import struct
import sys
import time

BLOCK_SIZE = 64 * 1024


def pattern(n):
    block = b''.join(hashlib.sha256(b'tp-close-%d' % i).digest() for i in range(0, BLOCK_SIZE, 32))
    return (block * (n // BLOCK_SIZE + 1))[:n]


def recv_exact(sock, n):
    data = b''
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError('proxy closed during its handshake')
        data += chunk
    return data


def open_connection(via, host, port):
    """A connected socket to host:port and the request target to use on it."""
    kind, _, proxy_port = via.partition(':')
    if kind == 'direct':
        return socket.create_connection((host, port), timeout=30), ''
    sock = socket.create_connection(('127.0.0.1', int(proxy_port)), timeout=30)
    if kind == 'http':
        return sock, 'http://%s:%d' % (host, port)
    if kind == 'connect':
        sock.sendall(b'CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n' % (host.encode(), port, host.encode(), port))
        head = b''
        while b'\r\n\r\n' not in head:
            head += recv_exact(sock, 1)
        if not head.startswith(b'HTTP/1.1 200') and not head.startswith(b'HTTP/1.0 200'):
            raise OSError('CONNECT refused: %r' % head.split(b'\r\n')[0])
        return sock, ''
    if kind == 'socks5':
        sock.sendall(b'\x05\x01\x00')
        if recv_exact(sock, 2) != b'\x05\x00':
            raise OSError('SOCKS5 greeting refused')
        sock.sendall(b'\x05\x01\x00\x03' + bytes([len(host)]) + host.encode() + struct.pack('>H', port))
        reply = recv_exact(sock, 4)
        if reply[1] != 0:
            raise OSError('SOCKS5 reply %d' % reply[1])
        address_length = {1: 4, 4: 16}.get(reply[3]) or recv_exact(sock, 1)[0]
        recv_exact(sock, address_length + 2)
        return sock, ''
    raise SystemExit('unknown VIA ' + via)


def read_answer(sock, rate=0):
    """Reads to the end: (body bytes, 'end' | 'reset'), pacing to `rate` bytes/s if given."""
    data = bytearray()
    ended = 'end'
    started = time.monotonic()
    try:
        while True:
            chunk = sock.recv(BLOCK_SIZE)
            if not chunk:
                break
            data += chunk
            if rate:
                ahead = len(data) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    except ConnectionResetError:
        ended = 'reset'
    head_end = data.find(b'\r\n\r\n')
    return (bytes(data[head_end + 4:]) if head_end >= 0 else b''), ended, bytes(data[:max(head_end, 0)])


def request(target, method, path, host, port):
    extra = os.environ.get('CLOSE_HEADER', '')
    extra = (extra + '\r\n').encode() if extra else b''
    return b'%s %s%s HTTP/1.0\r\nHost: %s:%d\r\n%s\r\n' % (method, target.encode(), path.encode(), host.encode(), port, extra)


def main(argv):
    via, host, port, ending, args = argv[0], argv[1], int(argv[2]), argv[3], argv[4:]
    sock, target = open_connection(via, host, port)
    sock.settimeout(60)
    result = {}
    if ending in ('big', 'get-shut'):
        sock.sendall(request(target, b'GET', '/big/%s' % args[0], host, port))
        if ending == 'get-shut':
            sock.shutdown(socket.SHUT_WR)
        body, ended, _ = read_answer(sock, int(args[1]) if ending == 'big' else 0)
    elif ending == 'upload':
        sock.sendall(request(target, b'POST', '/upload/%s' % args[1], host, port))
        sent = pattern(int(args[0]))
        sock.sendall(sent)
        sock.shutdown(socket.SHUT_WR)
        body, ended, _ = read_answer(sock)
        summary, _, body = body.partition(b'\n')
        result['serverSaw'] = summary.decode()
        result['sent'] = '%d %s' % (len(sent), hashlib.sha256(sent).hexdigest())
    elif ending == 'reset':
        sock.sendall(request(target, b'GET', '/reset/%s' % args[0], host, port))
        body, ended, _ = read_answer(sock)
    elif ending == 'hold':
        sock.sendall(request(target, b'GET', '/hold/%s' % args[0], host, port))
        seen = b''
        while not seen.endswith(b'ready\n'):
            chunk = sock.recv(1024)
            if not chunk:
                raise OSError('closed before ready')
            seen += chunk
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        sock.close()
        body, ended = b'', 'reset'
        result['outcome'] = outcome(via, host, port, args[0])
    else:
        raise SystemExit('unknown ENDING ' + ending)
    sock.close()
    result.update(bytes=len(body), sha256=hashlib.sha256(body).hexdigest(), ended=ended)
    print(json.dumps(result))


def outcome(via, host, port, ident):
    """What the server saw of /hold/ID, asked until it knows (at most 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        sock, target = open_connection(via, host, port)
        sock.sendall(request(target, b'GET', '/outcome/%s' % ident, host, port))
        body, _, _ = read_answer(sock)
        sock.close()
        answer = body.decode().strip()
        if answer != 'pending' or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


if __name__ == '__main__':
    main(sys.argv[1:])
