"""customlabels.s3_names: the one bucket-name rule, shared by folder locations and manifest source-refs."""

import pytest

from customlabels.s3 import S3LocationInvalid, parse_location
from customlabels.s3_names import bucket_name_valid
from datasets.formats.ground_truth import source_ref_parse


@pytest.mark.parametrize("name", ["abc", "bucket", "my.bucket-1", "0bucket9", "a" * 63])
def test_lower_case_letters_digits_dots_and_hyphens_make_a_bucket_name(name):
    assert bucket_name_valid(name)


@pytest.mark.parametrize(
    "name", ["", "ab", "a" * 64, "Bucket", "my_bucket", "-bucket", "bucket-", ".bucket", "my..bucket", "bucket\n"]
)
def test_other_names_are_no_bucket_names(name):
    assert not bucket_name_valid(name)


def test_a_bucket_name_ending_in_a_line_break_is_refused_in_a_folder_location_as_in_a_source_ref():
    with pytest.raises(S3LocationInvalid, match="is not a valid bucket name"):
        parse_location("s3://bucket\n/folder/")
    assert source_ref_parse("s3://bucket\n/a.png") is None
