"""Sphinx configuration of the ecgbench docs (built by `python docs/build.py`, which stages the sources under
_docs_build/src and passes the static/extra folders; see docs/build.py). Offline: nothing is loaded from a CDN."""
import configparser, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))
_cfg = configparser.ConfigParser(); _cfg.read(ROOT / "settings.ini"); _s = _cfg["DEFAULT"]

project = _s.get("title", "ecgbench")
author = _s.get("author", "")
copyright = _s.get("copyright", "")
release = version = _s.get("version", "")

extensions = ["myst_nb", "svgmath"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure"]

# notebooks arrive executed (docs/build.py runs them with nbclient and caches them): myst-nb only renders
nb_execution_mode = "off"
nb_render_markdown_format = "myst"          # show_doc output (markdown with tables) rendered as markdown
nb_ipywidgets_js = {}                       # no require.js / html-manager from unpkg (widget outputs are stripped)
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "dollarmath", "html_image", "html_admonition"]
myst_heading_anchors = 3
myst_dmath_allow_space = False              # "$ large ... $" in prose is not maths (as in Pandoc)
myst_dmath_allow_digits = False             # nor is "$5 ... $10"

# math without MathJax: formulas drawn as SVG by matplotlib's mathtext at build time (docs/_ext/svgmath.py)
html_math_renderer = "svgmath"

html_theme = "furo"
html_title = f"{project} {release}"
html_static_path = []                       # set by docs/build.py: plotly.min.js + custom.css
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {"navigation_with_keys": True}


def _plotly_for_page(app, pagename, templatename, context, doctree):
    "Pages with a plotly figure load the one local copy of plotly.min.js (in _static)."
    if "plotly-graph-div" in (context.get("body") or ""):
        app.add_js_file("plotly.min.js", priority=200)


def setup(app):
    app.connect("html-page-context", _plotly_for_page)
