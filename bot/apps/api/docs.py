"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served with no request leaving the machine.

FastAPI's own pages load Swagger UI, ReDoc, a favicon and Google fonts from CDNs, so on a
host without internet they are blank. The same pages here point at the assets that the
``fastapi-offline`` package ships (Swagger UI 5, ReDoc 2, pinned in constraints.txt),
served under ``/docs/assets/``: a dependency rather than copies in this repository, so
upgrading them is a version bump and their licences travel with their package.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException

__all__ = ["ASSETS", "add_docs"]

ASSETS_URL = "/docs/assets"
_MEDIA = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8", "swagger-ui.css": "text/css; charset=utf-8",
          "redoc.standalone.js": "text/javascript; charset=utf-8", "favicon.png": "image/png"}
ASSETS = Path(str(files("fastapi_offline") / "static"))
# persistAuthorization: a key entered under "Authorize" survives a reload of the page;
# validatorUrl None: Swagger UI would otherwise send the spec to an online validator.
SWAGGER_PARAMETERS = {"persistAuthorization": True, "validatorUrl": None}
# The pages may load and call nothing but this server: ReDoc's footer logo (a CDN image that
# hides itself when it fails) is then never even requested. Inline script and style: the pages
# FastAPI writes start Swagger UI inline, and both UIs style themselves at run time.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'")


def _confined(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CSP
    return page


def add_docs(app: FastAPI) -> None:
    """Serve /docs, its OAuth2 redirect page, /redoc and their assets (public, like /openapi.json).
    ``app`` must be made with ``docs_url=None, redoc_url=None``."""
    missing = [name for name in _MEDIA if not (ASSETS / name).is_file()]
    if missing:  # a broken install, not a user mistake: say which package to reinstall
        raise RuntimeError(f"fastapi-offline is missing {', '.join(missing)} in {ASSETS}; reinstall it (pip install -c constraints.txt -e .)")

    def root(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        r = root(request)
        return _confined(get_swagger_ui_html(
            openapi_url=r + app.openapi_url, title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=r + "/docs/oauth2-redirect", swagger_ui_parameters=SWAGGER_PARAMETERS,
            swagger_js_url=f"{r}{ASSETS_URL}/swagger-ui-bundle.js", swagger_css_url=f"{r}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{r}{ASSETS_URL}/favicon.png",
        ))

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        r = root(request)
        return _confined(get_redoc_html(
            openapi_url=r + app.openapi_url, title=f"{app.title} - ReDoc", redoc_js_url=f"{r}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{r}{ASSETS_URL}/favicon.png", with_google_fonts=False,
        ))

    @app.get(ASSETS_URL + "/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        if name not in _MEDIA:  # only the four files: no path ever reaches the file system
            raise HTTPException(404, f"no docs asset {name!r}")
        return FileResponse(ASSETS / name, media_type=_MEDIA[name], headers={"Cache-Control": "public, max-age=86400"})
