"""A minimal SMTP sink for benchmarks: asyncio, one process, answers just enough SMTP and counts what arrives.

aiosmtpd is the right server for tests but saturates a core long before a sender does; this sink costs
little per message, so that what a benchmark measures is the sender. `XCOUNT` (a made-up command) answers
`250 <messages> <duplicates>`; with --record it also remembers recipients, to count duplicates.

    python bench/sink.py --port 0 [--record]      # prints the port it listens on, then serves until killed
"""

from __future__ import annotations

import argparse
import asyncio
import sys

END = b"\r\n.\r\n"


class Sink(asyncio.Protocol):
    count = 0
    duplicates = 0
    seen: set[bytes] = set()
    record = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""
        self.in_data = False
        self.recipients: list[bytes] = []
        self.transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.in_data:
                end = self.buffer.find(END)
                if end < 0:
                    # Keep only a tail long enough to hold the end marker split across reads.
                    if len(self.buffer) > 65536:
                        self.buffer = self.buffer[-4:]
                    return
                self.buffer = self.buffer[end + len(END):]
                self.in_data = False
                Sink.count += 1
                if Sink.record:
                    for rcpt in self.recipients:
                        if rcpt in Sink.seen:
                            Sink.duplicates += 1
                        Sink.seen.add(rcpt)
                self.recipients = []
                self.transport.write(b"250 2.0.0 queued\r\n")
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return
            line, self.buffer = self.buffer[:line_end], self.buffer[line_end + 2:]
            self.command(line)

    def command(self, line: bytes) -> None:
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            self.transport.write(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n")
        elif verb == b"RCPT":
            if Sink.record:
                self.recipients.append(line[8:].strip().lower())
            self.transport.write(b"250 2.1.5 ok\r\n")
        elif verb == b"DATA":
            self.in_data = True
            self.transport.write(b"354 go on\r\n")
        elif verb == b"QUIT":
            self.transport.write(b"221 bye\r\n")
            self.transport.close()
        elif verb == b"XCOU":
            self.transport.write(f"250 {Sink.count} {Sink.duplicates}\r\n".encode())
        else:  # MAIL, RSET, NOOP and anything else
            self.transport.write(b"250 ok\r\n")


async def main(port: int, record: bool) -> None:
    Sink.record = record
    server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", port)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.port, args.record))
    except KeyboardInterrupt:
        sys.exit(0)
