"""The TUI driven by Textual's Pilot: scripted events for rendering, a real session for the keys."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fakes import ScriptedSession
from tests.helpers import clips
from wlk_cli.events import FinalEvent, StatusEvent, TranscriptEvent, Word
from wlk_cli.tui.app import HelpScreen, NameScreen, WlkApp
from wlk_cli.tui.messages import FinalUpdate
from wlk_cli.tui.widgets import SPEAKER_COLORS, PauseMark, TranscriptView


def w(start: float, text: str, speaker: str | None = None, i: int | None = None, dur: float = 0.3) -> Word:
    return Word(start, start + dur, text, 0.9, speaker, i)


def speaker_script() -> list[object]:
    a = [w(0.5, " Good", "S1", 0), w(0.9, " morning,", "S1", 1), w(1.3, " everyone.", "S1", 2)]
    b = [w(2.0, " Thanks.", "S2", 3), w(2.5, " Shall", "S2", 4), w(2.9, " we", "S2", 5)]
    c = [w(6.0, " Later", "S1", 6), w(6.4, " on,", "S1", 7)]
    tentative = (w(6.8, " the"), w(7.1, " budget"))
    return [
        TranscriptEvent(0, 1.0, 1.8, tuple(a), (w(2.0, " thanks"),)),
        TranscriptEvent(1, 3.5, 3.6, tuple(b), ()),
        TranscriptEvent(2, 7.5, 7.6, tuple(c), tentative),
        StatusEvent(7.6, 7.6, 0.4, None, speech=True, level_db=-20.0, latency_s=1.1, processing_s=3.0),
    ]


async def settle(app: WlkApp, paragraphs: int) -> None:
    for _ in range(100):
        await asyncio.sleep(0.02)
        if len(app.query_one(TranscriptView).paragraphs) >= paragraphs and app.status_bar.event is not None:
            break
    await asyncio.sleep(0.1)


def test_speakers_paragraphs_and_tentative_render(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = WlkApp(ScriptedSession(speaker_script()))

    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot.app, 3)

    assert snap_compare(app, terminal_size=(80, 16), run_before=before)


def test_timestamps_toggle_renders(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = WlkApp(ScriptedSession(speaker_script()))

    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot.app, 3)
        await pilot.press("t")
        await asyncio.sleep(0.1)

    assert snap_compare(app, terminal_size=(80, 16), run_before=before)


async def test_paragraph_model_and_colours() -> None:
    app = WlkApp(ScriptedSession(speaker_script()))
    async with app.run_test(size=(80, 20)) as pilot:
        await settle(app, 3)
        view = app.query_one(TranscriptView)
        speakers = [p.data.speaker for p in view.paragraphs]
        assert speakers == ["S1", "S2", "S1"]  # a speaker change and a 3 s pause start paragraphs
        last = view.paragraphs[-1].render()
        assert last.plain.endswith("Later on, the budget")
        dim = [s for s in last.spans if "dim" in str(s.style) and "italic" in str(s.style)]
        assert dim and last.plain[dim[0].start : dim[0].end].strip() == "the budget"
        first = view.paragraphs[0].render()
        assert any(SPEAKER_COLORS[0] in str(s.style) for s in first.spans)
        assert "thanks" not in first.plain  # the tentative tail moved on with the next event
        assert view.plain_text().startswith("S1: Good morning, everyone.")
        await pilot.press("q")


async def test_speaker_revisions_recolour_and_regroup() -> None:

    app = WlkApp(ScriptedSession(speaker_script()))
    async with app.run_test(size=(80, 20)) as pilot:
        await settle(app, 3)
        view = app.query_one(TranscriptView)
        # diarization decides that "Thanks. Shall we" was S1 after all, and "Later on," is a third speaker
        view.relabel(((3, "S1"), (4, "S1"), (5, "S1"), (6, "S3"), (7, "S3")))
        await asyncio.sleep(0.1)
        assert [p.data.speaker for p in view.paragraphs] == ["S1", "S3"]
        assert view.plain_text().startswith("S1: Good morning, everyone. Thanks. Shall we")
        last = view.paragraphs[-1].render()
        assert any(SPEAKER_COLORS[1] in str(s.style) for s in last.spans)  # S3 took the second colour
        assert last.plain.endswith("the budget")  # the tentative tail survives the regrouping
        await pilot.press("q")


async def test_a_final_utterance_is_redrawn_in_place() -> None:
    """The final pass's words take the place of an utterance's confirmed words in its paragraph: the
    other paragraphs are the same widgets, the scroll position stays at the end, the tail stays."""
    events: list[object] = [
        TranscriptEvent(i, float(i), float(i), (w(i * 3.0, f" Sentence number {i}.", None, i),), ()) for i in range(30)
    ]
    app = WlkApp(ScriptedSession(events))
    async with app.run_test(size=(60, 14)) as pilot:
        await settle(app, 30)
        view = app.query_one(TranscriptView)
        await asyncio.sleep(0.2)
        widgets = list(view.paragraphs)
        view.apply(TranscriptEvent(30, 1, 1, (w(90.0, " the", None, 30), w(90.4, " end", None, 31)), (w(91.0, " of"),)))
        final = FinalEvent(31, 1, 7, (30, 31), (w(90.0, " The", None, 32), w(90.4, " end.", None, 33)))
        app.post_message(FinalUpdate(final))
        await asyncio.sleep(0.2)
        assert view.paragraphs[:30] == widgets  # nothing before it was rebuilt
        last = view.paragraphs[-1]
        assert [x.id for x in last.data.words][-2:] == [32, 33] and last.render().plain.endswith("The end. of")
        assert view.following and view.scroll_y == view.max_scroll_y
        assert [x.id for x in view.words][-2:] == [32, 33]  # what a later speaker revision regroups
        # an utterance over two paragraphs (a speaker change in it): regrouped, each speaker's own
        view.apply(TranscriptEvent(32, 1, 1, (w(95.0, " one", "S1", 34), w(95.4, " two", "S2", 35)), ()))
        final = FinalEvent(33, 1, 8, (34, 35), (w(95.0, " One,", "S1", 36), w(95.4, " two.", "S2", 37)))
        app.post_message(FinalUpdate(final))
        await asyncio.sleep(0.2)
        assert [p.data.speaker for p in view.paragraphs[-2:]] == ["S1", "S2"]
        assert view.plain_text().endswith("S1: One,\n\nS2: two.")
        await pilot.press("q")


async def test_keys_reach_the_session() -> None:
    session = ScriptedSession(speaker_script())
    app = WlkApp(session)
    async with app.run_test(size=(100, 20)) as pilot:
        await settle(app, 3)
        await pilot.press("space")
        await pilot.pause()
        assert app.status_bar.paused and "PAUSED" in app.status_bar.render().plain
        assert "speech" not in app.status_bar.render().plain  # paused: nothing is heard
        footer = {b.action: b.description for _, b, enabled, *_ in app.active_bindings.values() if enabled}
        assert footer.get("resume") == "Resume" and "pause" not in footer  # the footer offers what space does
        await pilot.press("space")
        await pilot.pause()
        assert session.paused_calls == [True, False]
        assert app.query(PauseMark), "the paused stretch is marked in the transcript"
        await pilot.press("s")
        assert session.saved == 1
        await pilot.press("question_mark")
        await pilot.press("question_mark")  # a second ? closes it rather than stacking another
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("c")
        await pilot.press("n")  # name the speaker talking now: a prompt, Enter names, Esc cancels
        await pilot.pause()
        assert isinstance(app.screen, NameScreen)
        await pilot.press(*"Alice", "enter")
        await pilot.pause()
        assert session.named == ["Alice"] and not isinstance(app.screen, NameScreen)
        assert any("S1 is Alice now" in n.message for n in app._notifications)
        await pilot.press("n", *"S9", "enter")  # refused: one line in a toast, nothing named
        await pilot.pause()
        assert session.named == ["Alice"]
        assert any("cannot name" in n.message for n in app._notifications)
        await pilot.press("n", "escape")
        await pilot.pause()
        assert session.named == ["Alice"] and not isinstance(app.screen, NameScreen)
        await pilot.press("q")
        await asyncio.sleep(0.3)
    assert session.stopped.is_set() and session.stop_calls == [None]  # q: the session decides (file or live)
    assert app.return_value is not None
    session = ScriptedSession(speaker_script())
    app = WlkApp(session)
    async with app.run_test(size=(100, 20)) as pilot:
        await settle(app, 3)
        await pilot.press("ctrl+c")
        await asyncio.sleep(0.3)
    assert session.stop_calls == [True]  # Ctrl-C interrupts, whatever the source


async def test_scrolling_up_stops_following_and_end_resumes() -> None:
    events: list[object] = [
        TranscriptEvent(i, float(i), float(i), (w(i * 3.0, f" Sentence number {i}.", None, i),), ()) for i in range(60)
    ]
    app = WlkApp(ScriptedSession(events))
    async with app.run_test(size=(60, 14)) as pilot:
        await settle(app, 60)
        view = app.query_one(TranscriptView)
        await asyncio.sleep(0.2)
        assert view.following and view.scroll_y == view.max_scroll_y > 0
        view.scroll_up(animate=False)
        await asyncio.sleep(0.1)
        assert not view.following
        assert "scrolled: End follows" in app.status_bar.render().plain  # it says it stopped following
        view.apply(TranscriptEvent(99, 1, 1, (w(500.0, " New", None, 99),), ()))
        await asyncio.sleep(0.1)
        assert view.scroll_y < view.max_scroll_y
        await pilot.press("end")
        await asyncio.sleep(0.1)
        assert view.following and view.scroll_y == view.max_scroll_y
        assert "scrolled" not in app.status_bar.render().plain
        await pilot.press("q")


async def test_arabic_is_shown_in_visual_order_right_aligned_tentative_dimmed() -> None:
    words = tuple(w(0.1 + 0.4 * i, " " + x, None, i) for i, x in enumerate("مرحبا بكم في هذا الدرس".split()))
    tentative = (w(2.5, " اليوم"),)
    app = WlkApp(ScriptedSession([TranscriptEvent(0, 1, 1, words, tentative)]))
    async with app.run_test(size=(60, 12)) as pilot:
        await settle(app, 1)
        paragraph = app.query_one(TranscriptView).paragraphs[0]
        rendered = paragraph.render()
        assert paragraph.styles.text_align == "right"
        assert "مرحبا" not in rendered.plain  # shaped (presentation forms) and reordered for display
        dim = [rendered.plain[s.start : s.end] for s in rendered.spans if "dim" in str(s.style)]
        assert dim and dim[0].strip() and dim[0].strip() not in "".join(x.text for x in words), dim
        line = paragraph.render_line(0).text
        assert line.rstrip() and len(line) - len(line.lstrip()) > 10, repr(line)  # flush right on screen
        await pilot.press("q")


@pytest.mark.slow
async def test_real_session_pause_stops_audio_and_quit_writes_files(tmp_path: Path) -> None:
    from wlk_cli.audio import SAMPLE_RATE
    from wlk_cli.audio.clock import AudioClock
    from wlk_cli.audio.decode import AudioDecoder
    from wlk_cli.audio.ring import RingBuffer
    from wlk_cli.config import build_settings
    from wlk_cli.engine import Engine
    from wlk_cli.session import Session
    from wlk_cli.sinks.files import FileSink

    src, _ = clips()[1]
    settings = build_settings(None, {"model": "tiny.en", "speed": 1.0})
    clock = AudioClock(AudioDecoder(str(src)).blocks(), RingBuffer(SAMPLE_RATE * 60), 100, 1.0)
    session = Session(
        Engine(settings), settings, clock, src.name, FileSink(tmp_path, "talk", ["srt", "json"], "tiny.en")
    )
    app = WlkApp(session)
    async with app.run_test(size=(100, 20)) as pilot:
        await asyncio.sleep(2.0)
        await pilot.press("space")
        await asyncio.sleep(0.3)
        held = clock.ring.end
        await asyncio.sleep(1.2)
        assert clock.ring.end == held, "paused capture must not feed audio"
        await pilot.press("space")
        await asyncio.sleep(1.0)
        assert clock.ring.end > held
        await pilot.press("q")
        for _ in range(100):
            await asyncio.sleep(0.1)
            if not app.is_running:
                break
    assert app.stats is not None and app.stats.words > 0
    assert app.stats.interrupted, "q before the end of a file is an interruption (exit 130)"
    assert (tmp_path / "talk.srt").read_text().strip()
    assert '"text"' in (tmp_path / "talk.json").read_text()


class FailingSession(ScriptedSession):
    def run(self, sinks: list[object]) -> object:
        from wlk_cli.errors import DeviceError

        for s in sinks:
            s.transcript(speaker_script()[0])  # type: ignore[attr-defined]
        raise DeviceError("audio device 'USB Mic' stopped delivering audio (unplugged or lost)")


async def test_a_session_error_is_a_notification_not_a_broken_screen() -> None:
    app = WlkApp(FailingSession([]))
    async with app.run_test(size=(100, 20)) as pilot:
        for _ in range(50):
            await asyncio.sleep(0.05)
            if app.ended:
                break
        assert app.error and "stopped delivering audio" in app.error
        assert any("stopped delivering audio" in str(n.message) for n in app._notifications)
        assert "error" in (app.status_bar.note or "")
        assert app.query_one(TranscriptView).paragraphs  # what was heard stays on screen
        await pilot.press("q")
    assert not app.is_running
    assert app.failure is not None and app.failure.exit_code == 5  # the program exits as a lost device does


async def test_the_status_bar_keeps_two_lines_and_toasts_sit_above_it() -> None:
    import dataclasses

    from textual.widgets._toast import Toast

    app = WlkApp(ScriptedSession(speaker_script()))
    async with app.run_test(size=(120, 24), notifications=True) as pilot:
        await settle(app, 3)
        bar = app.status_bar
        heights = set()
        for lag in (None, 3.2):  # listening with speakers: the longest status there is
            assert bar.event is not None
            bar.event = dataclasses.replace(bar.event, diarization_lag_s=lag, dropped_frames=12)
            bar.note = "finished: q to exit"
            bar.refresh(layout=True)
            await pilot.pause()
            heights.add(bar.region.height)
        assert heights == {2}, heights  # never wraps, never jumps between one and two lines
        assert "load 0.39" in bar.render().plain and "RTF" not in bar.render().plain
        app.notify("saved talk.srt, talk.json", timeout=5)
        await asyncio.sleep(0.3)
        toast = app.query_one(Toast)
        assert toast.region.bottom <= bar.region.y, (toast.region, bar.region)
        await pilot.press("q")
