"""The health check's rules on rows built to trip each one, and a clean dataset that passes them all."""

import pytest

from datasets.health_rules import (
    FAIL,
    PASS,
    WARNING,
    Row,
    dataset_checks,
    pair_checks,
)
from datasets.health_summary import manifest_statistics, manifest_summary

_ids = iter(range(1, 10**6))


def row(
    *, labels=(), boxes=(), width=640, height=480, size=50_000, fmt="JPEG", etag=None, phash="", error="", ref=None
):
    pk = next(_ids)
    return Row(
        pk,
        ref or f"s3://b/{pk}.jpg",
        width,
        height,
        fmt,
        size,
        etag if etag is not None else f"etag-{pk}",
        phash,
        error,
        tuple(labels),
        tuple(boxes),
    )


def clean_rows():
    """12 images each of cat and dog: every check passes."""
    return [row(labels=["cat"]) for _ in range(12)] + [row(labels=["dog"]) for _ in range(12)]


def by_code(checks):
    return {check.code: check for check in checks}


def checks_of(rows, labels=None, near=()):
    names = (
        sorted({n for r in rows for n in r.labels} | {b[0] for r in rows for b in r.boxes})
        if labels is None
        else labels
    )
    return by_code(dataset_checks(rows, label_list=names, near=near))


def test_a_clean_dataset_passes_every_check():
    checks = checks_of(clean_rows())
    assert {code: check.level for code, check in checks.items()} == dict.fromkeys(checks, PASS)
    assert all(not check.image_ids for check in checks.values())


def test_one_label_fails_classification_but_one_is_enough_for_detection():
    classification = checks_of([row(labels=["cat"]) for _ in range(12)])["labels_minimum"]
    detection = checks_of([row(boxes=[("cat", 10, 10, 50, 50)]) for _ in range(12)])["labels_minimum"]
    assert (classification.level, classification.count) == (FAIL, 1)
    assert (detection.level, detection.count) == (PASS, 1)


def test_more_than_250_labels_fails():
    rows = clean_rows()
    check = checks_of(rows, labels=[f"l{i}" for i in range(251)])["labels_maximum"]
    assert (check.level, check.count) == (FAIL, 251)


def test_images_with_more_than_50_labels_or_boxes_fail_and_are_listed():
    many_labels = row(labels=[f"l{i}" for i in range(51)])
    many_boxes = row(boxes=[("cat", i, i, 20, 20) for i in range(51)])
    checks = checks_of([*clean_rows(), many_labels, many_boxes])
    assert (checks["labels_per_image"].level, checks["labels_per_image"].image_ids) == (FAIL, [many_labels.id])
    assert (checks["boxes_per_image"].level, checks["boxes_per_image"].image_ids) == (FAIL, [many_boxes.id])


def test_a_box_one_pixel_wide_after_the_resize_to_1280_is_too_small():
    # 4000 px wide shrinks by 0.32: a 3 px wide box becomes under 1 px; 4 px stays over.
    small = row(width=4000, height=3000, boxes=[("cat", 10, 10, 3, 50)])
    fine = row(width=4000, height=3000, boxes=[("cat", 10, 10, 4, 50)])
    check = checks_of([*clean_rows(), small, fine])["boxes_too_small"]
    assert (check.level, check.image_ids) == (WARNING, [small.id])


def test_images_breaking_the_limits_or_with_errors_are_listed():
    too_wide = row(width=5000, height=480)
    too_large = row(size=16 * 1024 * 1024)
    gif = row(fmt="GIF")
    broken = row(error="ERROR_INVALID_IMAGE")
    check = checks_of([*clean_rows(), too_wide, too_large, gif, broken])["image_errors"]
    assert check.level == WARNING
    assert check.image_ids == sorted([too_wide.id, too_large.id, gif.id, broken.id])


@pytest.mark.parametrize(("invalid", "level"), [(6, PASS), (7, FAIL)])
def test_more_than_a_fifth_invalid_fails(invalid, level):
    # 24 valid: 6 of 30 is exactly 20% (accepted), 7 of 31 is over.
    rows = clean_rows() + [row(labels=["cat"], error="ERROR_INVALID_IMAGE") for _ in range(invalid)]
    check = checks_of(rows)["invalid_share"]
    assert (check.level, check.count) == (level, invalid)


def test_fewer_than_10_labeled_images_is_a_warning():
    check = checks_of([row(labels=["cat"]) for _ in range(4)] + [row(labels=["dog"]) for _ in range(5)])[
        "images_minimum"
    ]
    assert (check.level, check.count) == (WARNING, 9)


def test_unlabeled_images_in_a_labeled_dataset_are_listed():
    unlabeled = [row(), row()]
    check = checks_of([*clean_rows(), *unlabeled])["unlabeled"]
    assert (check.level, check.image_ids) == (WARNING, sorted(r.id for r in unlabeled))


def test_rare_labels_and_imbalance_list_the_images_of_those_labels():
    rare = [row(labels=["bird"]) for _ in range(2)]
    checks = checks_of(
        [*clean_rows(), *[row(labels=["cat"]) for _ in range(20)], *rare], labels=["bird", "cat", "dog", "unused"]
    )
    assert checks["rare_labels"].labels == ["bird", "unused"]
    assert checks["rare_labels"].image_ids == sorted(r.id for r in rare)
    # cat has 32 images: bird (2) has less than a tenth; dog (12) does not.
    assert (checks["imbalance"].level, checks["imbalance"].labels) == (WARNING, ["bird"])
    assert checks["imbalance"].image_ids == sorted(r.id for r in rare)


def test_same_content_is_an_exact_duplicate_group():
    a, b = row(labels=["cat"], etag="same", size=10), row(labels=["cat"], etag="same", size=10)
    other_size = row(labels=["cat"], etag="same", size=11)
    check = checks_of([*clean_rows(), a, b, other_size])["exact_duplicates"]
    assert (check.level, check.groups) == (WARNING, [[a.id, b.id]])


def test_near_groups_are_reported_without_groups_of_exact_copies():
    a, b = row(labels=["cat"], etag="same", size=10), row(labels=["cat"], etag="same", size=10)
    c, d = row(labels=["cat"]), row(labels=["cat"])
    check = checks_of([*clean_rows(), a, b, c, d], near=[[a.id, b.id], [c.id, d.id]])["near_duplicates"]
    assert (check.level, check.groups) == (WARNING, [[c.id, d.id]])


def test_the_same_image_in_training_and_test_is_leakage():
    train = clean_rows()
    same_object = row(labels=["cat"], ref=train[0].source_ref)
    same_content = row(labels=["dog"], etag=train[13].etag, size=train[13].size)
    test = [same_object, same_content, row(labels=["cat"])]
    checks = by_code(pair_checks(test, train, training=False))
    assert (checks["leakage"].level, checks["leakage"].image_ids) == (FAIL, [same_object.id, same_content.id])
    assert by_code(pair_checks(train, test, training=True))["leakage"].image_ids == [train[0].id, train[13].id]


def test_label_overlap_under_half_of_the_training_labels_fails():
    train = [row(labels=[name]) for name in ("a", "b", "c") for _ in range(3)]
    test = [row(labels=["a"]), row(labels=["z"])]
    checks = by_code(pair_checks(test, train, training=False))
    assert (checks["label_overlap"].level, checks["label_overlap"].count) == (FAIL, 1)
    assert (checks["labels_one_side"].labels, checks["labels_one_side"].image_ids) == (["z"], [test[1].id])
    test += [row(labels=["b"])]
    assert by_code(pair_checks(test, train, training=False))["label_overlap"].level == PASS


def test_the_manifest_summary_has_the_shape_of_rekognitions():
    rows = [row(labels=["cat"]), row(error="ERROR_INVALID_IMAGE"), row(), row(boxes=[("dog", 1, 1, 50, 50)])]
    stats = manifest_statistics(rows)
    assert stats == {
        "use_case": "NOT_DETERMINED",
        "total_json_lines": 4,
        "valid_json_lines": 2,
        "invalid_json_lines": 1,
        "ignored_json_lines": 1,
        "error_json_line_indices": [1],
        "errors": [
            {
                "code": "ERROR_TOO_MANY_INVALID_ROWS_IN_MANIFEST",
                "message": "The manifest file contains too many invalid rows.",
            }
        ],
    }
    summary = manifest_summary(training=stats, testing=None, overlap=None)
    assert set(summary) == {"statistics", "errors"} and set(summary["statistics"]) == {"training"}
