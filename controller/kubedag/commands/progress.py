"""Progress of a long command: one line updated in place on a terminal, plain lines (one per
change) otherwise, so a log file or a pipe gets each state once and no carriage returns."""

import sys
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.shown = ""

    def update(self, line: str) -> None:
        """Show `line` as the current progress (nothing when it did not change)."""
        if line == self.shown:
            return
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.shown = line
        self.stream.flush()

    def note(self, text: str) -> None:
        """A line of its own (a log line, a message), above the progress line on a terminal."""
        if self.tty and self.shown:
            self.stream.write("\r\033[K" + text + "\n" + self.shown)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the progress line (what follows starts on a line of its own)."""
        if self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()
        self.shown = ""
