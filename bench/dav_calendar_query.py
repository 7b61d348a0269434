"""CalDAV calendar-query over one year on a calendar of 5,000 events (10% weekly recurring):
time to answer the REPORT over HTTP, with and without expansion. "cold" is the first query with
nothing parsed; best and median are of the repeated ones, which reuse the parsed recurring
items (pim.recurrence keeps them per item text).

    python bench/dav_calendar_query.py [EVENTS]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from postroom.pim import recurrence  # noqa: E402
from postroom.pim.model import index_text  # noqa: E402
from tests.dav.client import request  # noqa: E402
from tests.dav.env import ALICE, running_dav  # noqa: E402

QUERY = """<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/><C:calendar-data{expand}</D:prop>
<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
<C:time-range start="20240101T000000Z" end="20250101T000000Z"/></C:comp-filter></C:comp-filter>
</C:filter></C:calendar-query>"""
EXPAND = '><C:expand start="20240101T000000Z" end="20250101T000000Z"/></C:calendar-data>'


def event(i: int) -> str:
    # Spread over 2022-2026; every tenth event recurs weekly (half of those for ever).
    year = 2022 + i % 5
    month = 1 + (i // 5) % 12
    day = 1 + (i // 60) % 28
    hour = 8 + i % 10
    rrule = ""
    if i % 10 == 0:
        rrule = "RRULE:FREQ=WEEKLY\r\n" if i % 20 == 0 else "RRULE:FREQ=WEEKLY;COUNT=20\r\n"
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:ev-{i}\r\nDTSTAMP:20240101T000000Z\r\n"
            f"DTSTART:{year}{month:02d}{day:02d}T{hour:02d}0000Z\r\n"
            f"DTEND:{year}{month:02d}{day:02d}T{hour:02d}3000Z\r\n"
            f"SUMMARY:Event {i}\r\n{rrule}END:VEVENT\r\nEND:VCALENDAR\r\n")


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with running_dav(Path(tmp), users=(ALICE,)) as dav:
            acc = dav.accounts[ALICE]
            cal = await dav.store.get_collection_by_role(acc.id, "calendar")
            t0 = time.perf_counter()
            for i in range(n):
                text = event(i)
                await dav.store.put_item(acc.id, cal.id, f"ev-{i}.ics", text,
                                         index_text(text, "calendar"))
            load = time.perf_counter() - t0
            print(f"loaded {n} events ({n // 10} recurring) in {load:.1f}s "
                  f"({n / load:.0f} puts/s through the store)")
            path = f"/dav/{ALICE}/calendar/"
            for label, body in (("calendar-query 2024", QUERY.format(expand="/>")),
                                ("calendar-query 2024 + expand", QUERY.format(expand=EXPAND))):
                times = []
                recurrence.clear_cache()
                for _ in range(3):
                    t0 = time.perf_counter()
                    r = await request(dav, "REPORT", path, body, {"Depth": "1"})
                    times.append(time.perf_counter() - t0)
                    assert r.status == 207
                matches = r.body.count(b"<D:response>")
                print(f"{label}: {matches} matching objects, {len(r.body) // 1024} KiB, "
                      f"cold {times[0] * 1000:.0f} ms, best {min(times) * 1000:.0f} ms, "
                      f"median {sorted(times)[1] * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
