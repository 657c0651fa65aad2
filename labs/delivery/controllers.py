"""What the controllers of a :class:`~labs.delivery.rollout.Deployment` do on each change:
blue-green's switch and scale-down, the canary's steps and weights, and the analysis that
measures the error rate and rolls back.

Kept apart from :mod:`labs.delivery.rollout` (pods, endpoints, the rollout's bookkeeping)
because each is one strategy's own algorithm; the semantics and their sources (Argo
Rollouts' blue-green ``scaleDownDelaySeconds`` and canary steps with a traffic router;
``kubectl rollout undo`` as one more rolling update) are in ``rollout``'s docstring. The
rolling update's controller is :func:`labs.delivery.fenceposts.sync_rolling`.
"""

from __future__ import annotations

import math

__all__: list[str] = []


class _Controllers:
    """Mixed into Deployment: the strategies' steps. Uses the Deployment's state
    (``_r``, the rollout in progress; ``live``/``ready``; ``_create``/``_delete``; ``_at``)."""

    def _sync_blue_green(self, t: float) -> None:
        r = self._r
        target = r["target"]
        green = self.live(target)
        if self.active != target and len(green) >= self.replicas and all(p.ready(t) for p in green):
            self.active = target
            self._log(t, "switch", None, target)
            if r["decided"] is None:
                r["switched"] = t
                delay = r["strategy"].scale_down_delay
                self._at(t + delay, self._scale_down_old, target)
            else:                            # rebuilt blue after a late rollback
                for p in self.live():
                    if p.version != target:
                        self._delete(p, t)
                self._done(t)

    def _scale_down_old(self, target: str) -> None:
        r = self._r
        if r is None or self.active != target:
            return
        for p in self.live():
            if p.version != target:
                self._delete(p, self._now)
        if r["decided"] is None and (r["strategy"].analysis is None or
                                     self._now >= r["switched"] + r["strategy"].observe):
            self._done(self._now)

    def _canary_step(self, i: int) -> None:
        r = self._r
        s = r["strategy"]
        r["step"] = i
        t = self._now
        if i >= len(s.steps):                # promote: scale up, then all traffic
            r["step"] = len(s.steps)
            for _ in range(self.replicas - len(self.live(r["target"]))):
                self._create(r["target"], t)
            return
        w, _pause = s.steps[i]
        need = min(self.replicas, math.ceil(self.replicas * w / 100))
        for _ in range(need - len(self.live(r["target"]))):
            self._create(r["target"], t)
        r["pending"] = (i, w)

    def _sync_canary(self, t: float) -> None:
        r = self._r
        if r["decided"] is not None:
            return
        target = r["target"]
        s = r["strategy"]
        if r["step"] >= len(s.steps):
            new = self.live(target)
            if len(new) >= self.replicas and all(p.ready(t) for p in new):
                self.weight = 100.0
                self.stable = target
                for p in self.live():
                    if p.version != target:
                        self._delete(p, t)
                self._done(t)
            return
        pending = r.get("pending")
        if pending is not None and all(p.ready(t) for p in self.live(target)):
            i, w = pending
            r["pending"] = None
            self.weight = float(w)
            self._log(t, f"weight {w:g}", None, target)
            self._at(t + s.steps[i][1], self._canary_next, i)

    def _canary_next(self, i: int) -> None:
        r = self._r
        if r is None or r["kind"] != "canary" or r["decided"] is not None or r["step"] != i:
            return
        self._canary_step(i + 1)
        self._sync(self._now)

    def _measure(self, since: float) -> None:
        r = self._r
        if r is None or r["outcome"] != "in progress" or r["decided"] is not None:
            return
        a = r["strategy"].analysis
        t = self._now
        lo = t - a.window
        version = r["target"] if r["kind"] == "canary" else None
        n = bad = 0
        for when, v, ok in reversed(self._outcomes):
            if when <= lo:
                break
            if when <= t and (version is None or v == version):
                n += 1
                bad += not ok
        if n >= a.min_requests and bad > a.max_error_rate * n:
            self._rollback(t, bad / n)
            return
        if r["kind"] == "blue-green" and r["switched"] is not None and \
                t >= r["switched"] + r["strategy"].observe:
            if not any(p.version != r["target"] for p in self.live()):
                self._done(t)
            else:
                pass   # blue goes at scale_down_delay, which ends the rollout
            return
        self._at(t + a.interval, self._measure, since)

    def _rollback(self, t: float, rate: float) -> None:
        r = self._r
        r["decided"] = t
        back = r["from"]
        self._log(t, f"rollback (error rate {100 * rate:.1f} %)", None, r["version"])
        if r["kind"] == "rolling":       # kubectl rollout undo: a rolling update back
            r["target"] = back
        elif r["kind"] == "canary":      # abort: weight 0 now, canary pods deleted
            self.weight = 0.0
            for p in self.live(r["version"]):
                self._delete(p, t)
        else:                            # blue-green: switch back, or rebuild blue first
            if len(self.ready(back)) >= 1:
                self.active = back
                self._log(t, "switch", None, back)
            for p in self.live(r["version"]):
                if self.active == back:
                    self._delete(p, t)
            if self.active != back:
                r["target"] = back
                for _ in range(self.replicas - len(self.live(back))):
                    self._create(back, t)
        self._sync(t)
        if r["outcome"] == "in progress" and not self.live(r["version"]) and \
                all(p.ready(t) for p in self.live()) and len(self.live()) >= self.replicas:
            self._done(t)

    def _check_clean(self, t: float) -> None:
        r = self._r
        if r is None or r["decided"] is None or r["clean"] is not None:
            return
        serving = self.ready(r["version"], t)
        if r["kind"] == "blue-green":
            serving = serving if self.active == r["version"] else []
        if r["kind"] == "canary" and self.weight == 0:
            serving = []
        if not serving:
            r["clean"] = t
