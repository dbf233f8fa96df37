"""Sphinx html math renderer without MathJax (offline docs): each formula is drawn once at build time by matplotlib's
mathtext as an inline SVG image; a formula mathtext cannot parse is shown as its TeX source."""
import base64, functools, html, io, re

from docutils import nodes


@functools.lru_cache(maxsize=None)
def tex_svg(latex: str, size: float = 12.0) -> str | None:
    "Data URI of `latex` drawn as SVG, or None when mathtext cannot draw it."
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import math_to_image
    src = " ".join(latex.split())
    src = src.replace(r"\tfrac", r"\frac").replace(r"\dfrac", r"\frac").replace(r"\Big", "").replace(r"\big", "")
    src = re.sub(r"\\frac\s*(\w)\s*(\w)", r"\\frac{\1}{\2}", src)   # \frac12 -> \frac{1}{2}
    src = re.sub(r"\\(ge|le|ne)(?![a-zA-Z])", lambda m: {"ge": r"\geq", "le": r"\leq", "ne": r"\neq"}[m.group(1)], src)
    buf = io.BytesIO()
    try:
        with matplotlib.rc_context({"svg.fonttype": "path", "mathtext.fontset": "dejavusans"}):
            math_to_image(f"${src}$", buf, prop=FontProperties(size=size), format="svg")
    except Exception:
        return None
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


def _img(latex: str, block: bool) -> str:
    uri = tex_svg(latex, 13.0 if block else 11.5)
    if uri is None:
        tag = "pre" if block else "code"
        return f'<{tag} class="math-source">{html.escape(latex)}</{tag}>'
    cls = "math-svg math-block" if block else "math-svg"
    img = f'<img class="{cls}" src="{uri}" alt="{html.escape(latex, quote=True)}"/>'
    return f'<div class="math-display">{img}</div>' if block else img


def visit_math(self, node):
    self.body.append(_img(node.astext(), False)); raise nodes.SkipNode


def visit_displaymath(self, node):
    self.body.append(_img(node["latex"] if "latex" in node else node.astext(), True)); raise nodes.SkipNode


def setup(app):
    import logging
    logging.getLogger("matplotlib.mathtext").setLevel(logging.WARNING)
    app.add_html_math_renderer("svgmath", (visit_math, None), (visit_displaymath, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
