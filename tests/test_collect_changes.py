"""Commits in the history block link to their page, also for Azure Repos where the service gives no displayUri."""
from azure.devops.v7_1.build.models import Change

from azura.collect import _change


def test_azure_repos_commit_links_to_its_web_page():
    change = Change(id="9f2c1ab", message="Fix totals", location=(
        "https://dev.azure.com/contoso/0a1b/_apis/git/repositories/7e5d/commits/9f2c1ab"))
    assert _change(change).url == "https://dev.azure.com/contoso/0a1b/_git/7e5d/commit/9f2c1ab"


def test_display_uri_wins_when_the_service_gives_one():
    change = Change(id="9f2c1ab", message="Fix totals", display_uri="https://github.com/contoso/web/commit/9f2c1ab",
                    location="https://api.github.com/repos/contoso/web/commits/9f2c1ab")
    assert _change(change).url == "https://github.com/contoso/web/commit/9f2c1ab"


def test_unknown_location_gives_no_link():
    assert _change(Change(id="9f2c1ab", message="Fix totals")).url is None
