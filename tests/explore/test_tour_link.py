"""`convscope tour` writes an explore page for the LeNet it trains and links to it."""
import re
import subprocess
import sys


def test_tour_links_to_an_explore_page_of_its_lenet(tmp_path):
    done = subprocess.run([sys.executable, "-m", "convscope", "tour", "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    links = re.findall(r'<a href="([^"]+)"', (tmp_path / "index.html").read_text())
    assert links[0] == "explore.html"  # the first link of the page, in its introduction
    page = (tmp_path / "explore.html").read_text()
    assert '"trained":true' in page and '"title":"lenet_digits"' in page
