"""The tour's page: introduction, one section per figure with the numbers behind it, the errata, links."""
from html.parser import HTMLParser

from convscope import lecture
from convscope.tour import _write_index

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
