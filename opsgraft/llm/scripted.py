"""A backend that answers from a script: for tests and dry runs, never for real adaptation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opsgraft.errors import BackendError
from opsgraft.types import Generation, Message, Usage

Answer = str | Callable[[Sequence[Message]], str]


class ScriptedBackend:
    """Returns the scripted answers in order, one per sample; records every prompt it saw."""

    name = "scripted"
    supports_prefill = True  # answers are scripted as continuations of a prefill, when one is sent

    def __init__(self, answers: Sequence[Answer], model: str = "scripted", context_window: int = 32768):
        self.model = model
        self.context_window = context_window
        self._answers = list(answers)
        self.calls: list[tuple[tuple[Message, ...], int]] = []

    def generate(
        self,
        messages: Sequence[Message],
        n: int = 1,
        temperature: float = 0.2,
        max_tokens: int = 1024,
        seed: int | None = None,
        first_index: int = 0,
    ) -> list[Generation]:
        """Pop the next ``n`` answers."""
        self.calls.append((tuple(messages), n))
        out = []
        for i in range(n):
            if not self._answers:
                raise BackendError("scripted backend ran out of answers")
            answer = self._answers.pop(0)
            text = answer(messages) if callable(answer) else answer
            out.append(
                Generation(
                    text=text,
                    index=first_index + i,
                    model=self.model,
                    backend=self.name,
                    usage=Usage(self.count_tokens(messages), len(text.split())),
                )
            )
        return out

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """A rough whitespace count: enough for overflow tests."""
        return sum(len(m.content.split()) + 4 for m in messages)
