"""The project name rule (spec §1.2): 1–255 letters, digits, underscores, periods and hyphens."""

import pytest
from django.core.exceptions import ValidationError

from projects.forms import ProjectCreateForm
from projects.models import project_name_validator

ACCEPTED = ["my_project.v-1", "a", "UPPER.lower-0_9", "x" * 255]
REJECTED = ["my project", "", "x" * 256, "tab\there", "slash/name", "ünïcode", "semi;colon"]


def _id(name: str) -> str:
    return f"{len(name)} chars" if len(name) > 20 else repr(name)


@pytest.mark.parametrize("name", ACCEPTED, ids=_id)
def test_names_of_letters_digits_underscores_periods_and_hyphens_up_to_255_chars_are_accepted(name):
    project_name_validator(name)
    assert ProjectCreateForm(data={"name": name}).is_valid()


@pytest.mark.parametrize("name", REJECTED, ids=_id)
def test_names_with_other_characters_empty_names_and_names_over_255_chars_are_rejected(name):
    form = ProjectCreateForm(data={"name": name})
    assert not form.is_valid()
    assert form.errors["name"]
    with pytest.raises(ValidationError):
        project_name_validator(name)


def test_surrounding_spaces_are_trimmed_before_the_rule_applies():
    form = ProjectCreateForm(data={"name": "  my_project.v-1  "})
    assert form.is_valid()
    assert form.cleaned_data["name"] == "my_project.v-1"
