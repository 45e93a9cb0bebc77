"""config.url_routing: guarded includes resolve exactly as plain ones, only faster."""

import re
import uuid

import pytest
from django.urls import URLResolver, include, path, re_path, reverse
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, RoutePattern, get_resolver
from drf_spectacular.generators import SchemaGenerator

from config.url_routing import _Guard, _literal_prefixes, _regex_literal, routed


@pytest.mark.parametrize(
    ("regex", "literal"),
    [
        ("^slots/?$", "slots"),
        (r"^a\.b/c$", "a.b/c"),
        (r"^\d+$", ""),
        ("^users/(?P<pk>[0-9]+)/?$", "users/"),
        ("slots/$", ""),  # not anchored: may match anywhere
        ("^ab+c$", "a"),
        ("^x{2}$", ""),
        (r"^a\\$", "a\\"),
        ("^(?:one|two)/$", ""),
        ("^notifications/unread-count/?$", "notifications/unread-count"),
    ],
)
def test_literal_of_a_regex(regex, literal):
    assert _regex_literal(regex) == literal


def _view(request):
    return None


def test_prefixes_come_from_routes_regexes_and_nested_includes():
    inner = [path("teams/<int:pk>/", _view), re_path(r"^orgs/?$", _view)]
    patterns = [path("slots/<uuid:pk>", _view), path("", include(inner))]
    assert _literal_prefixes(patterns) == {"slots/", "teams/", "orgs"}
    # A route that may start with anything leaves the include unguarded.
    assert _literal_prefixes([*patterns, path("<str:anything>", _view)]) is None
    assert _literal_prefixes([re_path(r"^(?:a|b)/$", _view)]) is None


def test_a_guarded_include_resolves_and_reverses_like_a_plain_one():
    inner = [path("teams/<int:pk>/", _view, name="team"), re_path(r"^orgs/?$", _view, name="orgs")]
    guarded = [routed(include((inner, "tenancy"))), path("other/", _view, name="other")]
    plain = [path("", include((inner, "tenancy"))), path("other/", _view, name="other")]
    for patterns in (guarded, plain):
        resolver = URLResolver(RegexPattern(r"^/"), patterns)
        assert resolver.resolve("/teams/7/").kwargs == {"pk": 7}
        assert resolver.resolve("/orgs").url_name == "orgs"
        assert resolver.resolve("/other/").url_name == "other"
        with pytest.raises(Resolver404):
            resolver.resolve("/teams/x/")
        assert resolver.namespace_dict["tenancy"][1].reverse("team", pk=3) == "teams/3/"
        assert resolver.url_patterns[0].namespace == "tenancy"
    assert guarded[0].pattern.prefixes == ("orgs", "teams/")
    assert str(guarded[0].pattern) == ""  # reads as the plain empty route (schema, 404 page)


def test_an_include_that_may_match_anything_stays_plain():
    included = include([path("<slug:anything>/", _view)])
    assert not isinstance(routed(included).pattern, _Guard)


def _unguarded(patterns):
    """The same URL tree with every guard replaced by the plain ``path("", include(...))``."""
    plain = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = _unguarded(entry.url_patterns)
            pattern = entry.pattern
            if isinstance(pattern, _Guard):
                pattern = RoutePattern("")
            entry = URLResolver(
                pattern, inner, entry.default_kwargs, entry.app_name, entry.namespace
            )
        plain.append(entry)
    return plain


@pytest.mark.django_db
def test_every_api_operation_resolves_to_the_same_view_as_without_guards():
    project = get_resolver()
    plain = URLResolver(RegexPattern(r"^/"), _unguarded(project.url_patterns))
    sample = str(uuid.UUID(int=1))
    compared = 0
    for template in SchemaGenerator().get_schema(request=None, public=True)["paths"]:
        for value in (sample, "team_x"):
            candidate = re.sub(r"\{[^}]+\}", value, template)
            try:
                expected = plain.resolve(candidate)
            except Resolver404:
                with pytest.raises(Resolver404):
                    project.resolve(candidate)
                continue
            assert project.resolve(candidate).view_name == expected.view_name, candidate
            compared += 1
    assert compared > 100
    for missing in ("/api/v1/nope", "/api/v1/slots/x/y/z", "/account/nope/"):
        with pytest.raises(Resolver404):
            project.resolve(missing)
    assert reverse("users-me") == "/api/v1/users/me"
