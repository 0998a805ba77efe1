"""The rules of ``mpguide lint``: code, message (the fix, in one line) and the page.

Each message ends with the page of the site that reproduces the pitfall and its
fix, as a path under the site's root.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RULES", "Rule"]


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    #: What is wrong and the fix, in one line; ``{detail}`` names the culprit.
    message: str
    #: The page that explains it, relative to the site's root.
    page: str

    def format(self, detail: str = "") -> str:
        text = self.message.format(detail=detail)
        return f"{self.code} {text} (see {self.page})"


RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule(
            "MPG001",
            "unpicklable-target",
            "{detail} cannot be pickled by reference, so it fails under spawn and "
            "forkserver (a pool: under fork too); define it at module level",
            "reference/errors.html#error-local-object",
        ),
        Rule(
            "MPG002",
            "start-without-main-guard",
            "{detail} at module level runs again in every spawn or forkserver child "
            'that imports this module; move it under if __name__ == "__main__":',
            "reference/errors.html#error-bootstrapping",
        ),
        Rule(
            "MPG003",
            "set-start-method-on-import",
            "set_start_method() outside the __main__ guard runs on every import "
            "(and again in each spawn child: 'context has already been set'); call it "
            'under if __name__ == "__main__": or use get_context()',
            "reference/errors.html#error-context-already-set",
        ),
        Rule(
            "MPG004",
            "identity-key",
            "{detail} has no __eq__/__hash__: as a Manager dict key each pickled copy "
            "is a new key, so lookups raise KeyError; key by a stable id, or define "
            "__eq__ and __hash__ (or @dataclass(frozen=True))",
            "gallery/tutorial/plot_01_reproduce.html",
        ),
        Rule(
            "MPG005",
            "mutate-managed-copy",
            "{detail} changes a copy fetched from the Manager, which is then dropped; "
            "fetch, change and assign it back (under a lock), or store Manager "
            "containers as values",
            "gallery/pitfalls/plot_01_nested_mutation.html",
        ),
        Rule(
            "MPG006",
            "value-race",
            "{detail} is a read and then a write, and another process can write in "
            "between; hold the Value's lock (with x.get_lock(): or a Manager Lock)",
            "gallery/pitfalls/plot_02_value_race.html",
        ),
        Rule(
            "MPG007",
            "salted-hash-shard",
            "hash() % n picks other shards or workers in a process with another hash "
            "salt (str, bytes, dates); use mpguide.stable_hash() or a digest",
            "gallery/pitfalls/plot_03_salted_hash.html",
        ),
        Rule(
            "MPG008",
            "lock-fetch-per-use",
            "with {detail}: fetches a new lock proxy (new connections) on every use; "
            "fetch the lock once and keep it",
            "gallery/pitfalls/plot_08_lock_fetch.html",
        ),
        Rule(
            "MPG009",
            "sync-object-as-task-argument",
            "{detail} cannot be sent to a pool or executor task; pass it to the "
            "workers through the initializer, or use a Manager's one",
            "reference/errors.html#error-lock-inheritance",
        ),
        Rule(
            "MPG010",
            "join-before-drain",
            "{detail}.join() before the Queue it fills is drained can wait for ever; "
            "get() every item first, then join()",
            "gallery/inherit/plot_03_join_before_drain.html",
        ),
        Rule(
            "MPG011",
            "global-set-under-main-guard",
            "{detail} is assigned under the __main__ guard, which a spawn or "
            "forkserver child does not run; pass it as an argument or initialize it "
            "in the worker",
            "explanation/main-module.html",
        ),
    )
}
