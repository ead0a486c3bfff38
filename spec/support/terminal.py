"""Drives a command through a real pseudo-terminal, for the interactive specs.

usage: terminal.py ROWS COLS STEP... -- COMMAND...
steps: send:TEXT (\\n and \\r understood), expect:REGEX (waits up to 10 s), resize:ROWS:COLS
       (then lets 0.5 s pass),
       kill:SIGNAL:PATTERN (pkill -SIGNAL -f PATTERN)
Prints everything the command wrote, then a last line `exit=N` (N: its exit status, or
128+signal). Exits 1 when an expectation times out.
"""
import fcntl, os, pty, re, select, struct, subprocess, sys, termios, time


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main():
    args = sys.argv[1:]
    split = args.index("--")
    rows, cols, steps, command = int(args[0]), int(args[1]), args[2:split], args[split + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    set_size(fd, rows, cols)
    seen = b""

    def pump(timeout):
        nonlocal seen
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        seen += data
        return True

    cursor = 0
    for step in steps:
        kind, _, value = step.partition(":")
        if kind == "send":
            os.write(fd, value.replace("\\n", "\n").replace("\\r", "\r").encode())
        elif kind == "kill":
            signal, _, pattern = value.partition(":")
            subprocess.run(["pkill", "-" + signal, "-f", pattern], check=False)
        elif kind == "resize":
            r, c = value.split(":")
            set_size(fd, int(r), int(c))
            # A person does not type within microseconds of resizing: give the SIGWINCH time
            # to reach the command (and its window-change the remote side) before the next
            # step's input overtakes it.
            settle = time.time() + 0.5
            while time.time() < settle and pump(0.1):
                pass
        elif kind == "expect":
            pattern = re.compile(value.encode())
            deadline = time.time() + 10
            while True:
                match = pattern.search(seen, cursor)
                if match:
                    cursor = match.end()
                    break
                if time.time() > deadline or not pump(0.1):
                    sys.stdout.write(seen.decode(errors="replace"))
                    sys.stdout.write("\nexpect timed out: %s\n" % value)
                    os.kill(pid, 9)
                    sys.exit(1)
    while pump(10):
        pass
    _, status = os.waitpid(pid, 0)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    sys.stdout.write(seen.decode(errors="replace"))
    sys.stdout.write("\nexit=%d\n" % code)


main()
