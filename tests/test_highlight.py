from monitor.analysis import analyse
from monitor.highlight import entities_html


def test_entities_are_marked_and_feed_html_is_escaped():
    text = "Россия и <script>alert(1)</script> Япония подписали соглашение в Токио."
    html = entities_html(text, analyse("", text).entities)
    assert html.count("<mark") == 3  # Россия, Япония, Токио
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "МЕСТО" in html
