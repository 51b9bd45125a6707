"""The console's FastAPI app, mounted by Airflow's API server under `/crm-sync`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from crm_sync.console import api, pages

STATIC_DIR = Path(__file__).parent / "static"


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(f"{request.scope.get('root_path', '')}/api") and \
        "text/html" in request.headers.get("accept", "")


def create_app() -> FastAPI:
    """Build the console app: HTML pages, JSON API (`/api`), static assets (`/static`).

    Static assets (styles, script, icons) are public and hold no data; everything else
    requires Airflow's authentication (see `security`).
    """
    app = FastAPI(title="CRM sync console", description="The sync's own screens in the Airflow UI.",
                  docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> Response:
        """Browsers get a readable page (with the same status); API clients get JSON."""
        if _wants_html(request):
            return pages.render(request, "refused.html", status_code=exc.status_code, status=exc.status_code,
                                detail=exc.detail)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        """A malformed address or form: a readable page for browsers, the details for API clients."""
        if _wants_html(request):
            problems = "; ".join(f"{'.'.join(str(p) for p in error['loc'][1:])}: {error['msg']}"
                                 for error in exc.errors())
            return pages.render(request, "refused.html", status_code=422, status=422, detail=problems)
        return await request_validation_exception_handler(request, exc)

    return app
