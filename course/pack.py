"""Assignment packs: chosen labs as a folder and a reproducible zip.

Usage (``scripts/pack``)::

    python -m course.pack --chapters 1 6 [--site-url URL] [--out DIR] [--name NAME]
    python -m course.pack --exercises ch06-x ch08-y

A pack holds, for every lab with a chosen exercise:

* ``student/chNN/name.ipynb``: the notebook learners work in (no solutions, no hidden checks);
* ``solution/chNN/name.ipynb``: solutions with public and hidden checks (instructors only);
* ``hidden-checks/chNN/name.json``: each exercise's public and hidden check cells, which
  ``scripts/grade`` also reads from the lab sources;
* ``README.md``: for learners, the exercises with points and links into the hosted labs;
* ``pack.json``: what the pack contains.

The zip beside the folder is byte-for-byte reproducible: sorted entries, fixed timestamps
and permissions, no build-time data.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from course.notebooks import Lab, discover_labs, parse_lab, to_notebook

__all__ = ["make_pack", "select", "write_zip", "main"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SITE = "http://127.0.0.1:8000/"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class PackError(ValueError):
    pass


def select(labs: list[Lab], chapters=(), exercises=()) -> list[tuple[Lab, list]]:
    """The labs and their chosen exercises, in course order."""
    chapters, wanted = set(chapters or ()), list(exercises or ())
    known = {ex.id for lab in labs for ex in lab.exercises}
    unknown = [e for e in wanted if e not in known]
    if unknown:
        raise PackError(f"unknown exercise id(s) {unknown}; the course has {sorted(known)}")
    missing = sorted(c for c in chapters if not any(l.chapter == c for l in labs))
    if missing:
        raise PackError(f"no labs in chapter(s) {missing}; labs exist for chapters "
                        f"{sorted({l.chapter for l in labs})}")
    if not chapters and not wanted:
        raise PackError("choose --chapters N … or --exercises chNN-id …")
    chosen = []
    for lab in labs:
        exs = [ex for ex in lab.exercises if lab.chapter in chapters or ex.id in wanted]
        if exs:
            chosen.append((lab, exs))
    if not chosen:
        raise PackError("the chosen chapters have no exercises")
    return chosen


def _json(data) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def hidden_checks(lab: Lab) -> dict:
    solution = to_notebook(lab, "solution")["cells"]
    out = {"lab": lab.name, "exercises": {}}
    for ex in lab.exercises:
        out["exercises"][ex.id] = {
            "title": ex.title, "points": ex.points,
            "public": [solution[i]["source"] for i, c in enumerate(lab.cells)
                       if "check" in c.tags and c.metadata["exercise"] == ex.id],
            "hidden": [solution[i]["source"] for i, c in enumerate(lab.cells)
                       if "hidden-check" in c.tags and c.metadata["exercise"] == ex.id],
        }
    return out


def lab_url(site_url: str, lab: Lab) -> str:
    return site_url.rstrip("/") + f"/lite/notebooks/index.html?path={lab.name}.ipynb"


def readme(chosen, site_url: str, name: str) -> str:
    lines = [f"# Assignment: {name}", "",
             "Do the exercises below in the course's labs. Each lab runs in your browser; "
             "nothing to install.", "",
             "1. Open the lab with its link (or open its notebook from `student/` in "
             "Jupyter).",
             "2. Do each exercise; run its check cell to see how you are doing.",
             "3. Save the notebook (*File → Download*) and hand in the `.ipynb` file, "
             "named after you, e.g. `ada-lovelace.ipynb`.", "",
             "Do not edit or delete the check cells: your work is graded with the original "
             "checks, and with some further checks you do not see.", ""]
    total = 0
    for lab, exs in chosen:
        lines += [f"## {lab.title}", "", f"Open the lab: <{lab_url(site_url, lab)}>  ",
                  f"Notebook: `student/{lab.name}.ipynb`", "",
                  "| Exercise | Id | What you will do | Points | About |",
                  "|---|---|---|--:|--:|"]
        for ex in exs:
            lines.append(f"| {ex.title} | `{ex.id}` | {ex.outcome} | {ex.points} | "
                         f"{ex.minutes} min |")
            total += ex.points
        lines.append("")
    lines.append(f"Total: {total} points.")
    return "\n".join(lines) + "\n"


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def write_zip(folder: Path, target: Path, arcname: str | None = None) -> Path:
    """Zip *folder* reproducibly (sorted entries, fixed times and modes), its files under
    *arcname*/ (default: the folder's name)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    top = arcname or folder.name
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            info = zipfile.ZipInfo(f"{top}/{path.relative_to(folder).as_posix()}",
                                   date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    return target


def make_pack(out: Path, *, chapters=(), exercises=(), site_url: str = DEFAULT_SITE,
              name: str | None = None, notebooks: Path = ROOT / "notebooks") -> Path:
    """Write the pack folder and zip under *out*; return the folder."""
    labs = [parse_lab(p, notebooks) for p in discover_labs(notebooks)]
    chosen = select(labs, chapters, exercises)
    if not name:
        name = ("chapters-" + "-".join(f"{c:02d}" for c in sorted(set(chapters)))
                if chapters and not exercises else
                "exercises-" + "-".join(sorted({ex.id for _, exs in chosen for ex in exs}))[:80])
    if not isinstance(name, str) or not _NAME.fullmatch(name) or set(name) <= {"."}:
        raise PackError(f"the pack name {name!r} is not a plain folder name. fix: use letters, "
                        "digits, '.', '_' and '-', starting with a letter or digit, e.g. "
                        "--name week-3 (no '/', no '..', no absolute path)")
    if not site_url.endswith("/"):
        site_url += "/"
    out.mkdir(parents=True, exist_ok=True)
    final = out / name
    if final.exists() and not (final / "pack.json").is_file():
        raise PackError(f"{final} exists and is not a pack made by scripts/pack; it is left "
                        "alone. fix: choose another --name or --out, or move that folder away")
    # Build in a fresh folder beside the target, then move it into place: nothing that the
    # packer did not make is ever deleted, and a failed run leaves the old pack intact.
    folder = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out))
    for lab, _ in chosen:
        for variant in ("student", "solution"):
            path = folder / variant / f"{lab.name}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_json(to_notebook(lab, variant)), encoding="utf-8")
        path = folder / "hidden-checks" / f"{lab.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_json(hidden_checks(lab)), encoding="utf-8")
    (folder / "README.md").write_text(readme(chosen, site_url, name), encoding="utf-8")
    (folder / "pack.json").write_text(_json({
        "name": name, "site_url": site_url,
        "labs": [{"lab": lab.name, "title": lab.title, "url": lab_url(site_url, lab),
                  "exercises": [{"id": ex.id, "title": ex.title, "points": ex.points,
                                 "minutes": ex.minutes} for ex in exs]}
                 for lab, exs in chosen],
        "for_learners": ["README.md", "student/"],
        "instructors_only": ["solution/", "hidden-checks/"],
    }), encoding="utf-8")
    zip_tmp = folder.with_suffix(".zip.partial")
    write_zip(folder, zip_tmp, arcname=name)
    if final.exists():
        shutil.rmtree(final)   # a previous pack of this name (it has our pack.json)
    folder.rename(final)
    os.replace(zip_tmp, out / f"{name}.zip")
    return final


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/pack", description=__doc__.splitlines()[0])
    p.add_argument("--chapters", nargs="+", type=int, default=[], metavar="N")
    p.add_argument("--exercises", nargs="+", default=[], metavar="ID")
    p.add_argument("--site-url", default=DEFAULT_SITE, help=f"hosted site (default {DEFAULT_SITE})")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "packs")
    p.add_argument("--name", help="the pack's name (default: from the selection)")
    p.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        folder = make_pack(args.out, chapters=args.chapters, exercises=args.exercises,
                           site_url=args.site_url, name=args.name, notebooks=args.notebooks)
    except PackError as err:
        print(f"scripts/pack: {err}", file=sys.stderr)
        return 2
    files = sorted(f for f in folder.rglob("*") if f.is_file())
    print(f"pack {folder} ({len(files)} files) and {folder}.zip")
    print("  for learners: README.md, student/; for you only: solution/, hidden-checks/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
