"""Build the ecgbench documentation site offline: notebooks -> nbdev processing -> executed -> Sphinx (myst-nb, furo).

    python docs/build.py [--out _site] [--flags slow] [--jobs 2] [--timeout 600] [--force] [--only 00_core index]

What it does, in order (`build_site` is the whole pipeline, each step is a function the tests call too):

1. `discover`: the top-level notebooks of `nbs/` (module order = the numeric file prefix, `index.ipynb` is the home page;
   `nbs/experiments/` holds training notebooks run by papermill and is left out).
2. `prepare`: nbdev's `add_show_docs` adds a `show_doc` cell after every exported function/class that has none; cells
   flagged with a test flag (`#| slow`, `#| bench`, from `tst_flags` in settings.ini) are tagged `skip-execution` unless
   the flag is asked for (`--flags slow` or `DOCS_FLAGS=slow`), as are `#| eval: false` and `nbdev_export()` cells.
3. `execute_all`: nbclient runs the notebooks (kernel python3, working directory `nbs/`, a timeout per cell), `--jobs`
   at a time; an executed notebook is cached under `_docs_build/cache/` keyed by the hash of the notebook's content and
   the flags, so an unchanged notebook is not run again. A failing cell fails the build, naming notebook and cell.
4. `render`: nbdev's own docs processors (`hide`, `export` removal, `hide_line`, `filter_stream`, magics, ...) run on
   the executed notebook; the remaining `#| ...` cell options are removed (`echo: false` etc. become myst-nb tags);
   widget outputs and widget state are dropped (dashboards are shown by the screenshots under `figures/`); plotly
   outputs become a div drawn by the one local copy of plotly.min.js; `../figures/x.png` links become `figures/x.png`.
5. `write_index` + `sphinx_build`: the home page gets one hidden toctree per sidebar section; Sphinx writes the site.
"""
from __future__ import annotations

import argparse, concurrent.futures as cf, configparser, copy, hashlib, html, json, multiprocessing as mp, os, re
import shutil, sys, time, uuid, warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
DOCS = Path(__file__).resolve().parent
PREP_VERSION = "2"  # bump when `prepare` changes what is executed: invalidates the execution cache

# Sidebar sections in module-map order: (caption, rule). A notebook whose name contains "results" is a Results page;
# otherwise the numeric prefix decides. Notebooks matching nothing go to "Other".
SECTIONS: list[tuple[str, object]] = [
    ("Core", [0, 8]),
    ("Data", [*range(1, 8), 9, *range(12, 20)]),
    ("Preprocess", range(10, 12)),
    ("Encode", range(20, 30)),
    ("Models", range(30, 38)),
    ("Training", range(38, 50)),          # 38 distributed, 40 losses, 41 momentum, 45-49 train
    ("Methods", range(50, 60)),
    ("Eval", [*range(60, 65), *range(66, 70)]),
    ("Runs & dashboards", [65, *range(70, 80)]),
    ("Runner/CLI", [*range(80, 90), *range(95, 100)]),
    ("Results", "results"),
    ("Benchmarks", range(90, 95)),
    ("Other", None),
]

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_PLOTLY = "application/vnd.plotly.v1+json"


class DocsBuildError(RuntimeError):
    "A notebook could not be executed or the site could not be written."


# ---------------------------------------------------------------------------------------------------- discover
def discover(nbs_dir: Path = ROOT / "nbs", only: list[str] | None = None) -> list[Path]:
    "The notebooks to publish: `index.ipynb` first, then `NN_name.ipynb` in numeric order (`only`: stems to keep)."
    nbs = sorted(p for p in Path(nbs_dir).glob("*.ipynb") if not p.name.startswith((".", "_")))
    nbs.sort(key=lambda p: (p.stem != "index", p.name))
    if only: nbs = [p for p in nbs if p.stem in only or p.name in only]
    return nbs


def section_of(stem: str) -> str:
    "The sidebar section of notebook `stem` (see `SECTIONS`)."
    m = re.match(r"(\d+)_", stem)
    if "results" in stem: return "Results"
    for name, rule in SECTIONS:
        if m and not isinstance(rule, str) and rule is not None and int(m.group(1)) in rule: return name
    return "Other"


def sidebar(stems: list[str]) -> list[tuple[str, list[str]]]:
    "Sections in `SECTIONS` order with their pages in numeric order (empty sections left out; `index` is the root)."
    out = []
    for name, _ in SECTIONS:
        pages = [s for s in stems if s != "index" and section_of(s) == name]
        if pages: out.append((name, pages))
    return out


# ---------------------------------------------------------------------------------------------------- settings
def skip_flags(flags: str | list[str] | None = None) -> set[str]:
    "Test flags whose cells are not executed: settings.ini `tst_flags` minus the requested ones (`DOCS_FLAGS`)."
    cfg = configparser.ConfigParser(); cfg.read(ROOT / "settings.ini")
    all_flags = set(cfg["DEFAULT"].get("tst_flags", "slow bench").split())
    if flags is None: flags = os.environ.get("DOCS_FLAGS", "")
    if isinstance(flags, str): flags = flags.replace(",", " ").split()
    return all_flags - set(flags)


# ---------------------------------------------------------------------------------------------------- prepare
def _directives(cell) -> dict:
    from nbdev.process import extract_directives
    return extract_directives(copy.deepcopy(cell), remove=False) if cell.cell_type == "code" else {}


def prepare(nb_path: Path, skip: set[str]) -> nbformat.NotebookNode:
    "Notebook `nb_path` ready to execute: nbdev's `add_show_docs` applied, cells to skip tagged `skip-execution`."
    from execnb.nbio import read_nb, nb2dict
    from nbdev.process import NBProcessor
    from nbdev.processors import add_show_docs
    nb = read_nb(nb_path)
    for i, c in enumerate(nb.cells): c.setdefault("metadata", {})["ecgbench_docs"] = {"cell": i}
    NBProcessor(nb=nb, procs=[add_show_docs], rm_directives=False).process()
    nb = nbformat.reads(json.dumps(nb2dict(nb)), as_version=4)
    for c in nb.cells:
        c.metadata.setdefault("ecgbench_docs", {})  # show_doc cells added by nbdev
        if c.cell_type != "code": continue
        c.setdefault("outputs", []); c.setdefault("execution_count", None)
        d = _directives(c)
        why = ("an `eval: false` cell" if d.get("eval:", [""])[0].lower() == "false" else
               "an `nbdev_export()` cell" if "nbdev_export" + "(" in c.source else
               next((f"a `{f}` cell (`DOCS_FLAGS={f} make docs` runs it)" for f in sorted(skip & d.keys())), None))
        if why:
            tags = c.metadata.setdefault("tags", [])
            if "skip-execution" not in tags: tags.append("skip-execution")
            c.metadata["ecgbench_docs"]["skipped"] = why
    return nb


def _skip_exec(nb) -> bool:
    "nbdev front matter `skip_exec: true` (a raw or markdown cell)."
    return any(re.search(r"^\s*skip_exec\s*:\s*true\s*$", c.source, re.M | re.I) for c in nb.cells[:3]
               if c.cell_type in ("raw", "markdown"))


# ---------------------------------------------------------------------------------------------------- execute
def cache_key(nb_path: Path, skip: set[str], timeout: int) -> str:
    "Hash of the notebook's content, the skipped flags and the preparation version."
    h = hashlib.sha256(Path(nb_path).read_bytes())
    h.update(json.dumps([sorted(skip), PREP_VERSION]).encode())
    return h.hexdigest()[:20]


def _kernel_env() -> None:
    "Environment for the kernels: plotly figures as their JSON mime bundle only (no CDN/require.js HTML)."
    os.environ["PLOTLY_RENDERER"] = "plotly_mimetype"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"


def _cell_name(nb, i: int) -> str:
    c = nb.cells[i]
    orig = c.metadata.get("ecgbench_docs", {}).get("cell")
    first = next((l for l in c.source.splitlines() if l.strip() and not l.lstrip().startswith("#|")), "")
    where = f"cell {orig} (id {c.get('id', '?')})" if orig is not None else f"added show_doc cell {i}"
    return f"{where}: {first[:80]!r}"


def execute(nb_path: Path, skip: set[str], cache_dir: Path, timeout: int = 600, nbs_dir: Path | None = None,
            force: bool = False) -> dict:
    "Execute notebook `nb_path` (or take it from the cache); returns a small report. Raises `DocsBuildError`."
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    nb_path = Path(nb_path); cache_dir = Path(cache_dir); cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(nb_path, skip, timeout)
    out = cache_dir / f"{nb_path.stem}.{key}.ipynb"
    rep = dict(name=nb_path.name, cached=out.exists() and not force, seconds=0.0, path=str(out))
    if rep["cached"]: return rep
    t0 = time.time()
    nb = prepare(nb_path, skip)
    runnable = any(c.cell_type == "code" and "skip-execution" not in c.metadata.get("tags", []) for c in nb.cells)
    if runnable and not _skip_exec(nb):                 # (no kernel for a markdown-only notebook)
        _kernel_env()
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                                resources={"metadata": {"path": str(nbs_dir or nb_path.parent)}})
        log_dir = cache_dir.parent / "logs"; log_dir.mkdir(parents=True, exist_ok=True)
        try:
            with open(log_dir / f"{nb_path.stem}.kernel.log", "w") as klog:   # the kernel's own stderr chatter
                client.execute(stderr=klog)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
            bad = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and
                        any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
            if bad is None:   # a timeout or a dead kernel leaves no error output: the last cell that started
                started = [i for i, c in enumerate(nb.cells) if "iopub.execute_input" in c.metadata.get("execution", {})]
                bad = started[-1] if started else None
            kind = type(e).__name__
            where = (_cell_name(nb, bad) if bad is not None else "a cell") + ("" if kind == "CellExecutionError" else f" ({kind})")
            msg = str(e).strip().splitlines()
            raise DocsBuildError(f"{nb_path.name}: {where} failed to execute:\n" + "\n".join(msg[-25:])) from None
    for old in cache_dir.glob(f"{nb_path.stem}.*.ipynb"):
        if old != out: old.unlink()
    tmp = out.with_suffix(".tmp"); nbformat.write(nb, tmp); tmp.replace(out)
    rep["seconds"] = round(time.time() - t0, 1)
    return rep


def execute_all(nbs: list[Path], skip: set[str], cache_dir: Path, jobs: int = 2, timeout: int = 600,
                force: bool = False, log=print) -> list[dict]:
    "Execute `nbs` with `jobs` worker processes; all failures are collected, then one `DocsBuildError` names them."
    reps, errors = [], []
    ctx = mp.get_context("fork") if sys.platform != "win32" else None
    with cf.ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx) as ex:
        futs = {ex.submit(execute, p, skip, cache_dir, timeout, p.parent, force): p for p in nbs}
        for f in cf.as_completed(futs):
            p = futs[f]
            try:
                r = f.result(); reps.append(r)
                log(f"  {'cached ' if r['cached'] else 'executed'} {p.name}" + ("" if r["cached"] else f" ({r['seconds']} s)"))
            except DocsBuildError as e: errors.append(str(e)); log(f"  FAILED  {p.name}")
            except Exception as e: errors.append(f"{p.name}: {type(e).__name__}: {e}"); log(f"  FAILED  {p.name}")
    if errors: raise DocsBuildError(f"{len(errors)} notebook(s) failed to execute:\n\n" + "\n\n".join(errors))
    return sorted(reps, key=lambda r: r["name"])


# ---------------------------------------------------------------------------------------------------- render
# nbdev's docs processors we do not use: front matter/title handling (Sphinx needs the `# Title` cell), the autogen
# warning, show_doc insertion and execution (done before the full execution), doc links to the online site, Quarto folds.
_SKIP_PROCS = {"FrontmatterProc", "insert_warning", "add_show_docs", "exec_show_docs", "add_links", "add_fold"}
_QUARTO_OPT = re.compile(r"^\s*#\|\s*([\w-]+)\s*:\s*(.*?)\s*$")
_ANY_DIRECTIVE = re.compile(r"^\s*#\|.*$")


def nbdev_procs():
    "nbdev's own docs processors (`FilterDefaults`), minus `_SKIP_PROCS`."
    from nbdev.processors import FilterDefaults
    return [p for p in FilterDefaults().procs() if getattr(p, "__name__", "") not in _SKIP_PROCS]


def _strip_options(cell) -> None:
    "Remove the leading `#| ...` lines of a code cell, turning Quarto's echo/output/include options into myst-nb tags."
    lines = cell.source.splitlines()
    opts, i = {}, 0
    while i < len(lines) and (not lines[i].strip() or _ANY_DIRECTIVE.match(lines[i])):
        m = _QUARTO_OPT.match(lines[i])
        if m: opts[m.group(1)] = m.group(2).strip("'\"").lower()
        i += 1
    cell.source = "\n".join(l for l in lines[i:] if not re.search(r"#\|\s*hide_line\s*$", l)).strip("\n")
    tags = cell.metadata.setdefault("tags", [])
    if opts.get("include") == "false": tags.append("remove-cell")
    if opts.get("echo") == "false": tags.append("remove-input")
    if opts.get("output") == "false": tags.append("remove-output")
    if not cell.source.strip() and "remove-input" not in tags: tags.append("remove-input")


def plotly_html(fig: dict, div_id: str | None = None) -> str:
    "A div plus an inline script drawing plotly figure `fig` (its JSON) with the page's local plotly.min.js."
    div_id = div_id or f"plotly-{uuid.uuid4().hex[:12]}"
    layout = fig.get("layout") or {}
    h = layout.get("height") or 450
    payload = json.dumps({"data": fig.get("data", []), "layout": layout}, separators=(",", ":"))
    payload = payload.replace("</", "<\\/")
    return (f'<div id="{div_id}" class="plotly-graph-div ecgbench-plotly" style="height:{int(h)}px; width:100%;"></div>\n'
            f'<script type="text/javascript">window.addEventListener("DOMContentLoaded", function () {{'
            f' var f = {payload}; if (window.Plotly) Plotly.newPlot("{div_id}", f.data, f.layout,'
            f' {{"responsive": true, "displaylogo": false}}); }});</script>')


_EXT_SCRIPT = re.compile(r"<script[^>]*\bsrc\s*=\s*['\"]?(?:https?:)?//[^>]*>\s*</script>", re.I)
_EXT_LINK = re.compile(r"<link[^>]*\bhref\s*=\s*['\"]?(?:https?:)?//[^>]*>", re.I)


def _fig_links(text: str) -> str:
    "`../figures/x.png` (how the notebooks in nbs/ reach the repo's figures) -> `figures/x.png` (the site's copy)."
    return re.sub(r"(?<![\w/.])\.\./figures/", "figures/", text)


def _clean_html(s: str) -> str:
    s = _EXT_SCRIPT.sub("<!-- external script removed (offline docs) -->", s)
    s = _EXT_LINK.sub("<!-- external stylesheet removed (offline docs) -->", s)
    return _fig_links(s)


def _clean_md_output(md: str) -> str:
    "show_doc markdown for MyST: no leading `---` rule (not allowed inside an output), no Quarto link attributes."
    md = re.sub(r"^---\s*$", "", md, flags=re.M)
    md = re.sub(r"(\[[^\]]*\]\([^)]*\))\{[^}]*\}", r"\1", md)
    return _fig_links(md)


def _as_text(v) -> str: return "".join(v) if isinstance(v, list) else (v or "")


def clean_outputs(cell) -> None:
    "Drop widget outputs, turn plotly bundles into local-plotly html, drop external scripts from html outputs."
    outs, widget_dropped = [], False
    for o in cell.get("outputs", []):
        data = o.get("data")
        if data is None: outs.append(o); continue
        data.pop(_WIDGET_STATE, None)
        if _WIDGET_VIEW in data:
            data.pop(_WIDGET_VIEW)
            if set(data) <= {"text/plain"}: widget_dropped = True; continue
        if _PLOTLY in data:
            fig = data[_PLOTLY]
            if isinstance(fig, str): fig = json.loads(fig)
            o["data"] = data = {"text/html": plotly_html(fig)}
        elif "text/html" in data:
            data["text/html"] = _clean_html(_as_text(data["text/html"]))
        if "text/markdown" in data:
            data["text/markdown"] = _clean_md_output(_as_text(data["text/markdown"]))
        data.pop("application/javascript", None)
        if data: outs.append(o)
    if widget_dropped:
        outs.append(nbformat.v4.new_output("display_data", data={"text/markdown":
            "*Interactive widget output: open this notebook in JupyterLab to use it "
            "(the screenshots on this page show it).*"}))
    cell["outputs"] = outs


def _callouts(md: str) -> str:
    "Quarto callouts (`::: {.callout-note}`) -> MyST admonitions (`:::{note}`)."
    md = re.sub(r"^:::\s*\{\.callout-(\w+)[^}]*\}\s*$", lambda m: ":::{" + {"caution": "caution", "important":
                "important", "tip": "tip", "warning": "warning"}.get(m.group(1), "note") + "}", md, flags=re.M)
    return md


def render(executed: Path, out_path: Path, stem: str) -> dict:
    "Turn an executed notebook into the page Sphinx reads (see the module docstring); returns page facts."
    from execnb.nbio import read_nb, nb2dict
    from nbdev.process import NBProcessor
    nb = read_nb(executed)
    for c in nb.cells:  # nbdev's mv_exports looks for the show_doc cell it added (has_sd) after an `exports` cell
        if c.cell_type == "code" and c.source.lstrip().startswith("show_doc("): c.has_sd = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        NBProcessor(nb=nb, procs=nbdev_procs()).process()
    nb = nbformat.reads(json.dumps(nb2dict(nb)), as_version=4)
    nb.metadata.pop("widgets", None)
    title = None
    for c in nb.cells[:2]:   # nbdev front matter in a raw cell (`---\ntitle: ...\n---`) -> a `# title` heading
        m = re.match(r"^---\s*\n(.*?)\n---\s*$", c.source, re.S) if c.cell_type == "raw" else None
        if m:
            t = re.search(r"^title:\s*['\"]?(.*?)['\"]?\s*$", m.group(1), re.M)
            d = re.search(r"^description:\s*['\"]?(.*?)['\"]?\s*$", m.group(1), re.M)
            c.cell_type, c.source = "markdown", (f"# {t.group(1)}" if t else "") + (f"\n\n> {d.group(1)}" if d else "")
            c.pop("outputs", None); c.pop("execution_count", None)
    for c in nb.cells:
        c.pop("has_sd", None); c.metadata.pop("execution", None)
        if c.cell_type == "markdown":
            c.source = _callouts(_fig_links(c.source))
            m = re.search(r"^#\s+(.+)$", c.source, re.M)
            if title is None and m: title = m.group(1).strip()
        elif c.cell_type == "code":
            _strip_options(c)
            tags = c.metadata.get("tags", [])
            if "skip-execution" in tags:
                tags.remove("skip-execution")
                why = c.metadata.get("ecgbench_docs", {}).get("skipped", "")
                if not c.get("outputs") and "remove-cell" not in tags:
                    c.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown":
                                 f"*Not executed in this build: {why}.*"})]
            clean_outputs(c)
        c.metadata.pop("ecgbench_docs", None)
    nb.cells = [_show_doc_as_markdown(c) for c in nb.cells]
    if title is None:
        title = stem
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"# {stem}"))
    _write_if_changed(out_path, nbformat.writes(nb))
    return dict(stem=stem, title=title)


def _show_doc_as_markdown(cell):
    "A `show_doc(...)` cell whose output is markdown becomes that markdown, so API entries are real page sections."
    if cell.cell_type != "code" or not cell.source.lstrip().startswith("show_doc("): return cell
    mds = [_as_text(o["data"]["text/markdown"]) for o in cell.get("outputs", []) if "text/markdown" in o.get("data", {})]
    if len(mds) != 1 or len(cell.outputs) != 1: return cell
    md = mds[0].strip()
    m = re.match(r"(\[source\]\([^)]*\))\s*\n+(#+ [^\n]+)\n", md)   # nbdev puts the source link above the name
    if m: md = f"{m.group(2)}\n\n{md[m.end():].strip()}\n\n<small>{m.group(1)}</small>"
    new = nbformat.v4.new_markdown_cell(md)
    new.metadata["tags"] = ["api"]
    return new


def _write_if_changed(path: Path, text: str) -> None:
    "Write `text` unless `path` already holds it (an unchanged mtime lets Sphinx skip re-reading the page)."
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text: path.write_text(text, encoding="utf-8")


def write_index(rendered: Path, stems: list[str], idx: Path) -> None:
    "Home page `idx`: the `rendered` index notebook plus the sidebar (one hidden toctree per section, module-map order)."
    nb = nbformat.read(rendered, as_version=4)
    blocks = [f":::{{toctree}}\n:caption: {name}\n:hidden:\n\n" + "\n".join(pages) + "\n:::"
              for name, pages in sidebar(stems)]
    nb.cells.append(nbformat.v4.new_markdown_cell("\n\n".join(blocks)))
    _write_if_changed(idx, nbformat.writes(nb))


def stage_static(build: Path, src: Path, figs: Path = ROOT / "figures") -> tuple[Path, Path]:
    """Static files (plotly.min.js from the installed plotly, custom css) and extra files (figures/ copied into the
    site as-is, for html `<img>` links); figures/ is also copied next to the pages so Sphinx resolves markdown images."""
    import plotly
    static, extra = build / "static", build / "extra"
    for d in (static, extra):
        if d.exists(): shutil.rmtree(d)
    static.mkdir(parents=True)
    shutil.copy2(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", static / "plotly.min.js")
    for f in (DOCS / "_static").glob("*"): shutil.copy2(f, static / f.name)
    extra.mkdir(parents=True)
    if figs.is_dir():
        shutil.copytree(figs, extra / "figures")
        (src / "figures").mkdir(exist_ok=True)        # images only: a figures/*.md must not become a page
        for f in figs.iterdir():
            if f.suffix.lower() in {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}: shutil.copy2(f, src / "figures" / f.name)
    return static, extra


def sphinx_build(src: Path, out: Path, build: Path, static: Path, extra: Path, quiet: bool = False) -> None:
    "Run Sphinx (html builder, furo, myst-nb with execution off) on `src` with `docs/conf.py`."
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace
    import io
    status = io.StringIO() if quiet else sys.stdout
    with docutils_namespace():
        app = Sphinx(str(src), str(DOCS), str(out), str(build / "doctrees"), "html", status=status,
                     warning=sys.stderr, freshenv=False,
                     confoverrides={"html_static_path": [str(static)], "html_extra_path": [str(extra)]})
        app.build()
        if app.statuscode: raise DocsBuildError(f"sphinx exited with status {app.statuscode}")


@dataclass
class Site:
    out: Path
    pages: list[str]
    executed: list[dict]
    seconds: float


def build_site(out: Path = ROOT / "_site", build: Path = ROOT / "_docs_build", nbs_dir: Path = ROOT / "nbs",
               flags: str | list[str] | None = None, jobs: int = 2, timeout: int = 600, only: list[str] | None = None,
               force: bool = False, quiet: bool = False, log=print) -> Site:
    "The whole pipeline: discover, execute (cached, parallel), render with nbdev's processors, Sphinx."
    t0 = time.time()
    out, build = Path(out), Path(build)
    nbs = discover(nbs_dir, only)
    if not any(p.stem == "index" for p in nbs): raise DocsBuildError(f"no index.ipynb in {nbs_dir}: it is the home page")
    skip = skip_flags(flags)
    log(f"docs: {len(nbs)} notebooks, skipping cells flagged {sorted(skip) or 'nothing'}, {jobs} workers")
    reps = execute_all(nbs, skip, build / "cache", jobs=jobs, timeout=timeout, force=force, log=log)
    src = build / "src"
    src.mkdir(parents=True, exist_ok=True)
    keep = {f"{p.stem}.ipynb" for p in nbs}
    for f in src.glob("*.ipynb"):
        if f.name not in keep: f.unlink()          # a notebook removed from nbs/ leaves the site
    by_name = {r["name"]: r for r in reps}
    for p in nbs:
        if p.stem != "index": render(Path(by_name[p.name]["path"]), src / f"{p.stem}.ipynb", p.stem)
    tmp_index = build / "index.rendered.ipynb"
    render(Path(by_name["index.ipynb"]["path"]), tmp_index, "index")
    write_index(tmp_index, [p.stem for p in nbs], src / "index.ipynb")
    static, extra = stage_static(build, src, Path(nbs_dir).resolve().parent / "figures")
    log(f"docs: sphinx -> {out}")
    html_dir = build / "html"                       # myst-nb writes its output images next to the html folder
    sphinx_build(src, html_dir, build, static, extra, quiet=quiet)
    if out.exists(): shutil.rmtree(out)
    shutil.copytree(html_dir, out)
    return Site(out, [p.stem for p in nbs], reps, round(time.time() - t0, 1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Build the ecgbench docs site (offline: Sphinx + myst-nb + furo).")
    ap.add_argument("--out", default=str(ROOT / "_site"), help="output folder (default: _site)")
    ap.add_argument("--build", default=str(ROOT / "_docs_build"), help="work folder: cache, sources, doctrees")
    ap.add_argument("--flags", default=None, help="test flags whose cells are executed too, e.g. 'slow' "
                    "(default: $DOCS_FLAGS, else none)")
    ap.add_argument("--jobs", type=int, default=2, help="notebooks executed in parallel (default 2)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    ap.add_argument("--only", nargs="*", help="build only these notebooks (stems; index is always added)")
    ap.add_argument("--force", action="store_true", help="ignore the execution cache")
    ap.add_argument("--verbose", action="store_true", help="show Sphinx's progress (warnings are always shown)")
    a = ap.parse_args(argv)
    only = (a.only + ["index"]) if a.only else None
    try: site = build_site(Path(a.out), Path(a.build), flags=a.flags, jobs=a.jobs, timeout=a.timeout, only=only,
                           force=a.force, quiet=not a.verbose)
    except DocsBuildError as e:
        print(f"\ndocs build FAILED: {e}", file=sys.stderr); return 1
    n_exec = sum(not r["cached"] for r in site.executed)
    print(f"docs written to {site.out}/index.html: {len(site.pages)} pages, {n_exec} notebooks executed, "
          f"{len(site.executed) - n_exec} from cache, {site.seconds} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
