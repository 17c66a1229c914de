from customlabels.text import counted, was_were


def test_a_count_of_one_takes_the_singular_and_any_other_count_the_plural():
    assert counted(1, "line") == "1 line"
    assert counted(0, "line") == "0 lines"
    assert counted(2, "box", "boxes") == "2 boxes"
    assert counted(1, "box", "boxes") == "1 box"


def test_counts_carry_thousands_separators():
    assert counted(12000, "image") == "12,000 images"


def test_the_verb_agrees_with_the_count():
    assert (was_were(1), was_were(0), was_were(5)) == ("was", "were", "were")
