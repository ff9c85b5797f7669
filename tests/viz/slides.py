"""What a figure must show before it goes on a slide, checked from the drawn figure itself."""
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.text import Text


SLIDE_INCHES = (13.33, 7.5)  # a 16:9 slide: a figure larger than this is shrunk on it until its text is unreadable


def luminance(colour) -> float:
    """WCAG 2 relative luminance."""
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def render(fig, fmt="png", **kw) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, **kw)
    return buf.getvalue()


def _unused_tick_labels(fig) -> set:
    """Tick labels matplotlib keeps for ticks outside the view: it does not draw them."""
    unused = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - 1e-9 * (hi - lo) <= tick.get_loc() <= hi + 1e-9 * (hi - lo):
                    unused |= {id(tick.label1), id(tick.label2)}
    return unused


def texts(fig):
    """The drawn text of a drawn figure."""
    unused = _unused_tick_labels(fig)
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in unused]


def assert_fits_a_slide(fig):
    width, height = fig.get_size_inches()
    assert width <= SLIDE_INCHES[0] + 1e-6 and height <= SLIDE_INCHES[1] + 1e-6, \
        f"figure of {width:.2f} x {height:.2f} in is larger than a slide ({SLIDE_INCHES[0]} x {SLIDE_INCHES[1]} in)"


def assert_slide_ready(fig):
    """The size of a slide at most; a title; every piece of text inside the canvas; no legend over any axes."""
    assert_fits_a_slide(fig)
    canvas_ = FigureCanvasAgg(fig)
    canvas_.draw()  # lays the figure out as it is saved
    renderer = canvas_.get_renderer()
    canvas = fig.bbox
    titles = [fig._suptitle] + [ax.title for ax in fig.axes]
    assert any(t is not None and t.get_text().strip() for t in titles), "no title"
    for t in texts(fig):
        box = t.get_window_extent(renderer)
        assert box.x0 >= canvas.x0 - 1 and box.y0 >= canvas.y0 - 1 and box.x1 <= canvas.x1 + 1 and \
            box.y1 <= canvas.y1 + 1, f"text {t.get_text()!r} at {box} leaves the canvas {canvas}"
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if ax.get_visible() and (ax.images or ax.lines or ax.patches or ax.collections):
                assert not box.overlaps(ax.get_window_extent(renderer)), "a legend covers an axes"
