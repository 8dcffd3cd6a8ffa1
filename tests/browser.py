"""A real browser for the tests of web pages: headless Chromium (Debian's, `make browser`)
driven over the DevTools protocol with aiohttp's websocket client (already a dependency).

``render(url, screenshot)`` loads the page, waits for its load event, and returns what a person
would check first: the title, the visible text, the count of some elements, every console error
and uncaught exception, and a PNG screenshot written to ``screenshot``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

TIMEOUT_S = 60.0


@dataclass
class Page:
    title: str
    text: str
    counts: dict[str, int]
    errors: list[str] = field(default_factory=list)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise AssertionError("no chromium on PATH: run `make browser` (apt-get install chromium)")
    return found


def render(url: str, screenshot: Path, selectors: tuple[str, ...] = (), width: int = 1280) -> Page:
    return asyncio.run(asyncio.wait_for(_render(url, screenshot, selectors, width), TIMEOUT_S))


async def _render(url: str, screenshot: Path, selectors: tuple[str, ...], width: int) -> Page:
    profile = tempfile.mkdtemp(prefix="segue-chromium-")
    proc = subprocess.Popen(
        [
            chromium(),
            "--headless",
            "--no-sandbox",  # root in CI containers
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--window-size={width},1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        endpoint = await asyncio.to_thread(_devtools_endpoint, proc)
        async with aiohttp.ClientSession() as http:
            port = re.search(r":(\d+)/", endpoint)
            assert port is not None, endpoint
            async with http.get(f"http://127.0.0.1:{port.group(1)}/json/list") as answer:
                targets = await answer.json()
            page_ws = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            async with http.ws_connect(page_ws, max_msg_size=64 * 1024 * 1024) as ws:
                return await _drive(ws, url, screenshot, selectors)
    finally:
        proc.kill()
        proc.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_endpoint(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    for line in proc.stderr:
        if "DevTools listening on" in line:
            return line.split("DevTools listening on", 1)[1].strip()
    raise AssertionError(f"chromium exited ({proc.wait()}) before it listened")


async def _drive(
    ws: aiohttp.ClientWebSocketResponse, url: str, screenshot: Path, selectors: tuple[str, ...]
) -> Page:
    ids = iter(range(1, 1_000_000))
    errors: list[str] = []
    loaded = asyncio.Event()
    answers: dict[int, asyncio.Future[dict[str, Any]]] = {}

    async def reader() -> None:
        async for message in ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in answers:
                answers.pop(data["id"]).set_result(data)
                continue
            method, params = data.get("method"), data.get("params", {})
            if method == "Page.loadEventFired":
                loaded.set()
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append(f"exception: {details.get('text')} {details.get('exception', {})}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(f"log: {params['entry'].get('text')} ({params['entry'].get('url')})")

    async def call(method: str, **params: Any) -> dict[str, Any]:
        number = next(ids)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        answers[number] = answer
        await ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        result = await answer
        if "error" in result:
            raise AssertionError(f"{method}: {result['error']}")
        return result.get("result", {})

    async def evaluate(expression: str) -> Any:
        result = await call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    task = asyncio.create_task(reader())
    try:
        for domain in ("Page", "Runtime", "Log"):
            await call(f"{domain}.enable")
        await call("Page.navigate", url=url)
        await loaded.wait()
        await asyncio.sleep(0.2)  # late console messages of the load
        title = await evaluate("document.title")
        text = await evaluate("document.body ? document.body.innerText : ''")
        counts = {
            s: await evaluate(f"document.querySelectorAll({json.dumps(s)}).length")
            for s in selectors
        }
        metrics = await call("Page.getLayoutMetrics")
        size = metrics["cssContentSize"]
        shot = await call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": min(size["height"], 12_000),
                "scale": 1,
            },
        )
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        return Page(title, text, counts, errors)
    finally:
        task.cancel()
