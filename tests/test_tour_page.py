"""The tour's page: introduction, one section per figure with the numbers behind it, the errata, links."""
import html
import io
from html.parser import HTMLParser

import pytest

from convscope import lecture, tour
from convscope.tour import _write_index, comparison_note

VOID = {"meta", "img", "br", "hr", "link"}


class _Tags(HTMLParser):
    """Checks that every opened element is closed in order (a page a browser need not repair)."""

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_page_has_intro_numbers_errata_and_links(tmp_path):
    figures = [{"file": "a.png", "title": "A <figure>", "text": "two lines", "numbers": {"output side": 3}},
               {"file": "b.gif", "title": "B", "text": "more", "numbers": {}}]
    numbers = {"lenet_accuracy": 0.9861, "fc_accuracy": 0.9805, "lenet_params": 13706, "lenet_macs": 91776}
    page = _write_index(tmp_path, figures, numbers, links=[("explore.html", "explore a model")]).read_text()
    parser = _Tags()
    parser.feed(page)
    assert not parser.errors and parser.stack == []
    text = " ".join(parser.text)
    assert "What this page shows" in text and "98.61%" in text and "13,706" in text
    assert "A <figure>" in text and "output side" in text  # escaped title, the figure's numbers
    assert page.index('src="a.png"') < page.index('src="b.gif"') < page.index('id="errata"') < page.index("explore.html")
    for e in lecture.errata():
        assert e.sentence() in parser.text  # each erratum is one list item, word for word


# ------------------------------------------------------------------------------ the quick tour, run once

SERIES = ("LeNet", "dense net")  # the runs the tour trains: a caption that names one promises its curve


@pytest.fixture(scope="module")
def quick_tour(tmp_path_factory):
    from rich.console import Console

    from convscope import tour

    out = tmp_path_factory.mktemp("tour")
    with pytest.MonkeyPatch.context() as mp:  # no MNIST: the quick tour says how to get it
        mp.setenv("CONVSCOPE_DATA", str(out / "empty-cache"))
        return tour.run(out, quick=True, console=Console(file=io.StringIO()))


def _plotted(fig) -> set:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return {t.get_text() for legend in legends for t in legend.get_texts()}


def test_a_caption_naming_a_series_has_it_plotted(quick_tour):
    checked = 0
    for f in quick_tour["figures"]:
        labels = _plotted(f["figure"])
        if not labels:
            continue  # no plotted series: a picture of one model, not a comparison
        for name in SERIES:
            if name in f["title"] + f["text"]:
                assert any(label.startswith(name) for label in labels), f"{f['file']}: {name!r} promised, not plotted"
                checked += 1
    assert checked >= 2  # the history figure names and plots both nets


def test_every_tour_figure_fits_a_slide(quick_tour):
    from .viz.slides import assert_fits_a_slide

    for f in quick_tour["figures"]:
        assert_fits_a_slide(f["figure"])


def test_a_dense_net_ahead_of_the_lenet_is_explained(quick_tour):
    n = quick_tour["numbers"]
    history = next(f for f in quick_tour["figures"] if f["file"] == "history.png")
    note = comparison_note(n["lenet_accuracy"], n["fc_accuracy"], 3, True)
    assert (note in history["text"]) and (bool(note) == (n["fc_accuracy"] >= n["lenet_accuracy"]))
    assert comparison_note(0.95, 0.96, 3, True).startswith("Here the dense net is ahead (96.00% against 95.00%)")
    assert "--quick" in comparison_note(0.95, 0.96, 3, True) and "--quick" not in comparison_note(0.95, 0.96, 20, False)
    assert comparison_note(0.97, 0.96, 3, True) == ""


def test_rf_1d_weights_come_from_the_stacking_arithmetic(quick_tour):
    rf = next(f for f in quick_tour["figures"] if f["file"] == "rf_1d.png")["numbers"]
    assert rf["weights per channel pair, 1-D"] == "2 x 3-wide: 6, one 5-wide: 5"  # 2 * 3 and 5
    assert rf["weights per channel pair, 2-D"] == "2 x 3x3: 18, one 5x5: 25"  # 2 * 3 * 3 and 5 * 5


def test_the_explorer_link_comes_first_in_the_page(tmp_path):
    figures = [{"file": "a.png", "title": "A", "text": "t", "numbers": {}}]
    numbers = {"lenet_accuracy": 0.9, "fc_accuracy": 0.8, "lenet_params": 1, "lenet_macs": 1}
    page = _write_index(tmp_path, figures, numbers, explorer="explore.html").read_text()
    assert page.index('href="explore.html"') < page.index('src="a.png"')  # in the introduction, not at the end


def test_without_mnist_the_page_says_how_to_get_it(quick_tour):
    page = quick_tour["index"].read_text()
    note = next(n for n in quick_tour["notes"] if n["title"] == "LeNet-5 on real MNIST")
    assert [note["text"], *note["listing"]] == tour.mnist_instructions()
    assert page.index('src="feature_maps.png"') < page.index("LeNet-5 on real MNIST") < page.index('id="errata"')
    for line in note["listing"]:
        assert html.escape(line) in page  # the command and every file with its checksum, as typed


def test_the_tour_shows_saliency_and_grad_cam_of_the_lenet(quick_tour):
    looks = next(f for f in quick_tour["figures"] if f["file"] == "saliency_cam.png")
    assert looks["numbers"]["method"] == f"Grad-CAM (Selvaraju et al. 2017) of {tour.CAM_LAYER['lenet_digits']}'s output"
    assert looks["numbers"]["digits shown"] == "0, 1, 2, 3, 4"
