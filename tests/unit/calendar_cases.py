#!/usr/bin/env python3
"""Expected values for tests/unit/test_calendar.c, computed independently of
src/core/calendar.c: Python's zoneinfo gives the local wall-clock time of
each UTC minute, a range's ends are found by scanning minute by minute for
the first instant whose wall clock reaches them, and business time is
summed over those intervals. Prints one line per case; the test hard-codes
them.  Usage: python3 tests/unit/calendar_cases.py"""
import json
from datetime import datetime, timedelta, timezone, date
from zoneinfo import ZoneInfo

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def hm(s):
    return int(s[:2]) * 60 + int(s[3:])


class Cal:
    def __init__(self, doc):
        d = json.loads(doc)
        self.always = d == "24/7"
        if self.always:
            return
        self.z = ZoneInfo(d["timezone"])
        self.week = {k: [] for k in range(7)}
        if d["hours"] == "24/7":
            for k in range(7):
                self.week[k] = [(0, 1440)]
        else:
            for name, rs in d["hours"].items():
                k = DAYS.index(name)
                for a, b in rs:
                    a, b = hm(a), hm(b)
                    if b < a:
                        self.week[k].append((a, 1440))
                        if b:
                            self.week[(k + 1) % 7].append((0, b))
                    else:
                        self.week[k].append((a, b))
        self.hol = {}
        for h in d.get("holidays", []):
            if isinstance(h, str):
                self.hol[date.fromisoformat(h)] = []
            else:
                self.hol[date.fromisoformat(h["date"])] = [(hm(a), hm(b)) for a, b in h.get("hours", [])]

    def wall(self, t):  # t: UTC epoch seconds -> naive local datetime
        return datetime.fromtimestamp(t, timezone.utc).astimezone(self.z).replace(tzinfo=None)

    def first_reaching(self, local):  # first UTC second whose wall clock >= local
        guess = int((local - datetime(1970, 1, 1)).total_seconds()) - 16 * 3600
        guess -= guess % 60
        t = guess
        while self.wall(t) < local:
            t += 60
        # clock changes happen on whole minutes in these zones
        return t

    def intervals(self, t0, t1):
        """Open intervals (UTC s) overlapping [t0, t1)."""
        if self.always:
            return [(t0, t1)]
        out = []
        d = self.wall(t0).date() - timedelta(days=2)
        last = self.wall(t1).date() + timedelta(days=1)
        while d <= last:
            rs = self.hol.get(d, self.week[d.weekday()])
            for a, b in sorted(rs):
                base = datetime(d.year, d.month, d.day)
                u0 = self.first_reaching(base + timedelta(minutes=a))
                u1 = self.first_reaching(base + timedelta(minutes=b))
                if u1 > u0 and u1 > t0 and u0 < t1:
                    out.append((max(u0, t0), min(u1, t1)))
            d += timedelta(days=1)
        return out

    def between(self, a, b):
        return sum(y - x for x, y in self.intervals(a, b)) if b > a else 0

    def add(self, t, minutes):
        need = minutes * 60
        span = 3 * 86400
        while True:
            for x, y in self.intervals(t, t + span):
                if need <= y - x:
                    return x + need
                need -= y - x
            t, span = t + span, span
            # intervals() clips at t + span; continue from there
            need = need  # unchanged
            # (loop continues with the next window)


WD = '[["09:00", "17:00"]]'
CALS = {
    "berlin": '{"timezone": "Europe/Berlin", "hours": {"mon": %s, "tue": %s, "wed": %s, "thu": %s, '
              '"fri": %s}, "holidays": ["2026-12-25", "2026-12-26", "2027-01-01", '
              '{"date": "2026-12-24", "hours": [["09:00", "13:00"]]}]}' % ((WD,) * 5),
    "night": '{"timezone": "Europe/Berlin", "hours": {%s}}'
             % ", ".join('"%s": [["01:00", "05:00"]]' % d for d in DAYS),
    "ny247": '{"timezone": "America/New_York", "hours": "24/7", "holidays": ["2026-07-04"]}',
    "london_night": '{"timezone": "Europe/London", "hours": {%s}}'
                    % ", ".join('"%s": [["22:00", "06:00"]]' % d for d in DAYS[:5]),
    "santiago": '{"timezone": "America/Santiago", "hours": {%s}}'
                % ", ".join('"%s": [["00:00", "02:00"]]' % d for d in DAYS),
    "lordhowe": '{"timezone": "Australia/Lord_Howe", "hours": {%s}}'
                % ", ".join('"%s": [["01:00", "03:00"]]' % d for d in DAYS),
    "utc_leap": '{"timezone": "UTC", "hours": {%s}, "holidays": ["2028-02-29"]}'
                % ", ".join('"%s": %s' % (d, WD) for d in DAYS[:5]),
    "always": '"24/7"',
    "split": '{"timezone": "Europe/Berlin", "hours": {%s, "sat": [["14:00", "10:00"]]}}'
             % ", ".join('"%s": [["13:00", "17:30"], ["09:00", "12:00"]]' % d for d in DAYS[:5]),
    "nyc": '{"timezone": "America/New_York", "hours": {%s}}'
           % ", ".join('"%s": %s' % (d, WD) for d in DAYS[:5]),
    "berlin247": '{"timezone": "Europe/Berlin", "hours": "24/7"}',
}

CASES = [
    ("berlin", "add", "2026-03-27T15:00:00Z", 120),
    ("berlin", "add", "2026-03-28T10:00:00Z", 0),
    ("berlin", "add", "2026-03-30T07:00:00Z", 480),
    ("berlin", "add", "2026-03-30T15:00:00Z", 0),
    ("berlin", "add", "2026-12-23T15:00:00Z", 300),
    ("berlin", "add", "2026-12-23T15:00:00Z", 600),
    ("berlin", "between", "2026-12-18T08:00:00Z", "2027-01-04T16:00:00Z"),
    ("berlin", "between", "2026-12-31T12:00:00Z", "2027-01-05T00:00:00Z"),
    ("berlin", "add", "2026-03-02T08:00:00Z", 10000),
    ("berlin", "between", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
    ("night", "between", "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z"),
    ("night", "between", "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z"),
    ("night", "add", "2026-03-29T00:00:00Z", 200),
    ("night", "add", "2026-10-25T00:00:00Z", 150),
    ("night", "add", "2026-10-25T00:30:00Z", 200),
    ("ny247", "between", "2026-07-03T12:00:00Z", "2026-07-06T00:00:00Z"),
    ("ny247", "between", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
    ("ny247", "add", "2026-07-03T04:00:00Z", 1440),
    ("ny247", "add", "2026-07-04T10:00:00Z", 0),
    ("london_night", "between", "2026-03-27T12:00:00Z", "2026-03-30T12:00:00Z"),
    ("london_night", "add", "2026-03-27T21:30:00Z", 60),
    ("london_night", "add", "2026-03-27T21:30:00Z", 600),
    ("santiago", "between", "2026-09-05T12:00:00Z", "2026-09-06T12:00:00Z"),
    ("santiago", "between", "2026-04-04T12:00:00Z", "2026-04-05T12:00:00Z"),
    ("santiago", "add", "2026-09-06T00:00:00Z", 30),
    ("lordhowe", "between", "2026-10-03T12:00:00Z", "2026-10-04T12:00:00Z"),
    ("lordhowe", "between", "2026-04-04T12:00:00Z", "2026-04-05T12:00:00Z"),
    ("utc_leap", "add", "2028-02-28T17:00:00Z", 480),
    ("utc_leap", "between", "2028-02-25T00:00:00Z", "2028-03-04T00:00:00Z"),
    ("always", "add", "2026-01-01T00:00:00Z", 10000),
    ("always", "between", "2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z"),
    ("split", "add", "2026-06-01T09:30:00Z", 200),
    ("split", "add", "2026-06-05T15:00:00Z", 300),
    ("nyc", "add", "2026-10-01T13:00:00Z", 10000),
    ("nyc", "add", "2026-01-01T00:00:00Z", 100000),
    ("nyc", "between", "2026-12-31T22:00:00Z", "2027-01-04T15:00:00Z"),
    ("berlin247", "between", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"),
    ("berlin247", "between", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"),
    ("night", "between", "2100-03-20T12:00:00Z", "2100-04-03T12:00:00Z"),
    ("night", "between", "2100-10-20T12:00:00Z", "2100-11-03T12:00:00Z"),
]


def ts(s):
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


if __name__ == "__main__":
    cals = {k: Cal(v) for k, v in CALS.items()}
    for name, op, a, arg in CASES:
        c = cals[name]
        if op == "add":
            print(f'{{"{name}", ADD, "{a}", {arg}, "{iso(c.add(ts(a), arg))}", 0}},')
        else:
            print(f'{{"{name}", BETWEEN, "{a}", 0, "{arg}", {c.between(ts(a), ts(arg)) // 60}}},')
