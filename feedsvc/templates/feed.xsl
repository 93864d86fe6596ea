{%- autoescape true -%}
<?xml version="1.0" encoding="UTF-8"?>
<!-- feedsvc: shows this site's Atom and RSS feeds as a page when a browser opens them -->
<xsl:stylesheet version="1.0"
  xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
  xmlns:atom="http://www.w3.org/2005/Atom"
  exclude-result-prefixes="atom">
<xsl:output method="html" encoding="UTF-8" indent="no"/>

<xsl:template match="/">
  <xsl:variable name="title" select="atom:feed/atom:title | rss/channel/title"/>
  <xsl:variable name="self" select="atom:feed/atom:link[@rel='self']/@href | rss/channel/atom:link[@rel='self']/@href"/>
  <html lang="{{ site.language }}">
  <head>
    <meta charset="utf-8"/>
    <meta name="viewport" content="width=device-width, initial-scale=1"/>
    <title><xsl:value-of select="$title"/> · {{ text.feed_heading }}</title>
    <link rel="stylesheet" href="{{ style }}"/>
  </head>
  <body class="feed-page">
    <header class="site-header">
      <a class="site-title" href="{{ home }}">{{ site.title }}</a>
    </header>
    <main>
      <section class="feed-intro">
        <h1 class="feed-title"><xsl:value-of select="$title"/></h1>
        <p class="feed-about">{{ text.feed_about }}</p>
        <p class="feed-subscribe">{{ text.feed_subscribe }}</p>
        <p class="feed-url">
          <label for="feed-url">{{ text.feed_url_label }}</label>
          <input id="feed-url" type="url" readonly="readonly" value="{$self}"/>
          <button type="button" class="feed-copy" onclick="navigator.clipboard.writeText(document.getElementById('feed-url').value)">{{ text.feed_copy }}</button>
        </p>
        <p><a class="feed-home" href="{{ home }}">{{ text.feed_site }}</a></p>
      </section>
      <h2 class="feed-entries">{{ text.feed_entries }}</h2>
      <ol class="posts">
        <xsl:apply-templates select="atom:feed/atom:entry | rss/channel/item"/>
      </ol>
    </main>
  </body>
  </html>
</xsl:template>

<xsl:template match="atom:entry">
  <li class="post">
    <h2 class="post-title"><a href="{atom:link[@rel='alternate']/@href}"><xsl:value-of select="atom:title"/></a></h2>
    <p class="post-summary"><xsl:value-of select="atom:summary"/></p>
    <p class="post-meta">
      <time class="post-date" datetime="{atom:published}">{{ text.published }} <xsl:value-of select="translate(substring(atom:published, 1, 16), 'T', ' ')"/> UTC</time>
    </p>
  </li>
</xsl:template>

<xsl:template match="item">
  <li class="post">
    <h2 class="post-title"><a href="{link}"><xsl:value-of select="title"/></a></h2>
    <!-- the description is the plain-text summary escaped once as HTML (feeds/builder.py) -->
    <p class="post-summary"><xsl:value-of select="description" disable-output-escaping="yes"/></p>
    <p class="post-meta"><time class="post-date">{{ text.published }} <xsl:value-of select="pubDate"/></time></p>
  </li>
</xsl:template>
</xsl:stylesheet>
{% endautoescape %}
