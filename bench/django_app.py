"""Django's syndication framework over feedsvc's own tables: the comparison in django_compare.py.

Unmanaged models read the posts, categories and tags from the SQLite file feedsvc serves
(DJANGO_FEED_DB); ``/feed.atom`` is a ``django.contrib.syndication.views.Feed`` with
``Atom1Feed``, 20 entries with their full HTML content, newest first (feedsvc's page 1), behind
``django.middleware.http.ConditionalGetMiddleware``. Serve with
``granian --interface wsgi bench.django_app:application``. Needs Django (``.[bench]``).
"""

from __future__ import annotations

import os
from typing import Any

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    SECRET_KEY="bench",
    USE_TZ=True,
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["bench"],  # this package: the models below are its models
    MIDDLEWARE=["django.middleware.http.ConditionalGetMiddleware"],
    DATABASES={
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["DJANGO_FEED_DB"]}
    },
)
django.setup()

from django.contrib.syndication.views import Feed  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import models  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils.feedgenerator import Atom1Feed  # noqa: E402

BASE = os.environ.get("DJANGO_FEED_BASE", "http://127.0.0.1")


class Category(models.Model):
    slug = models.CharField(max_length=200)
    name = models.CharField(max_length=200)

    class Meta:
        app_label = "bench"
        managed = False
        db_table = "categories"


class Tag(models.Model):
    slug = models.CharField(max_length=200)
    name = models.CharField(max_length=200)

    class Meta:
        app_label = "bench"
        managed = False
        db_table = "tags"


class Post(models.Model):
    guid = models.CharField(max_length=500)
    slug = models.CharField(max_length=300)
    title = models.TextField()
    author = models.CharField(max_length=300, null=True)
    content_html = models.TextField()
    summary = models.TextField()
    published = models.DateTimeField()
    updated = models.DateTimeField()
    visible = models.BooleanField()
    categories = models.ManyToManyField(Category, through="PostCategory")
    tags = models.ManyToManyField(Tag, through="PostTag")

    class Meta:
        app_label = "bench"
        managed = False
        db_table = "posts"


class PostCategory(models.Model):
    # the table's key is (post_id, category_id); Django wants one column and only reads it here
    post = models.ForeignKey(Post, models.DO_NOTHING, db_column="post_id", primary_key=True)
    category = models.ForeignKey(Category, models.DO_NOTHING, db_column="category_id")

    class Meta:
        app_label = "bench"
        managed = False
        db_table = "post_categories"


class PostTag(models.Model):
    post = models.ForeignKey(Post, models.DO_NOTHING, db_column="post_id", primary_key=True)
    tag = models.ForeignKey(Tag, models.DO_NOTHING, db_column="tag_id")

    class Meta:
        app_label = "bench"
        managed = False
        db_table = "post_tags"


class ContentAtom(Atom1Feed):
    """Atom1Feed with each entry's full HTML ``<content>``, as feedsvc's entries carry."""

    def add_item_elements(self, handler: Any, item: dict[str, Any]) -> None:
        super().add_item_elements(handler, item)
        handler.addQuickElement("content", item["content"], {"type": "html"})


class LatestFeed(Feed):
    feed_type = ContentAtom
    title = "bench"
    link = "/"
    subtitle = "bench"
    feed_url = "/feed.atom"

    def items(self) -> Any:
        query = Post.objects.filter(visible=True).order_by("-published", "-id")
        return query.prefetch_related("categories", "tags")[:20]

    def item_title(self, item: Post) -> str:
        return item.title

    def item_description(self, item: Post) -> str:
        return item.summary

    def item_link(self, item: Post) -> str:
        return f"{BASE}/posts/{item.slug}"

    def item_guid(self, item: Post) -> str:
        return item.guid

    item_guid_is_permalink = False

    def item_author_name(self, item: Post) -> str | None:
        return item.author

    def item_pubdate(self, item: Post) -> Any:
        return item.published

    def item_updateddate(self, item: Post) -> Any:
        return item.updated

    def item_categories(self, item: Post) -> list[str]:
        return [c.name for c in item.categories.all()] + [t.name for t in item.tags.all()]

    def item_extra_kwargs(self, item: Post) -> dict[str, Any]:
        return {"content": item.content_html}


urlpatterns = [path("feed.atom", LatestFeed())]
application = get_wsgi_application()
