"""Job status for requesters and admins; admin cancel and pipeline ping."""

from __future__ import annotations

import uuid

from flask import request, send_file
from flask.views import MethodView
from sqlalchemy import desc

from app.api.base import Blueprint
from app.auth.identity import authenticate
from app.models import Job
from app.schemas.base import JobAcceptedSchema
from app.schemas.jobs import JobListQuerySchema, JobPageSchema, JobSchema, PingJobSchema
from app.services import exports, jobs
from app.services.listing import paginate

blp = Blueprint("jobs", __name__, url_prefix="/jobs", description="Background jobs")


def accepted(job: Job):
    """The 202 answer every enqueuing endpoint gives: job id, status, link and Location."""
    link = jobs.link(job.id)
    body = {"job_id": job.id, "status": job.status, "links": {"self": link}}
    return body, 202, {"Location": link}


def waited(job: Job, seconds: float) -> Job:
    """The job after up to ``seconds`` of waiting for it to finish, for the endpoints whose
    web UI page wants the result at once when it comes quickly; at once when the client asks
    for an asynchronous answer (``Prefer: respond-async``, RFC 7240)."""
    if seconds <= 0 or "respond-async" in request.headers.get("Prefer", "").lower():
        return job
    return jobs.wait(job.id, seconds)


@blp.route("")
class Jobs(MethodView):
    @blp.auth("jobs:list")
    @blp.arguments(JobListQuerySchema, location="query")
    @blp.response(200, JobPageSchema)
    def get(self, query):
        """List jobs, newest first (filters: kind, status, requestedBy)."""
        stmt = jobs.list_query(query.get("kind"), query.get("status"),
                               query.get("requested_by"))
        return paginate(stmt.order_by(desc(Job.created_at), desc(Job.id)), query["page"],
                        query["limit"])


@blp.route("/ping")
class Ping(MethodView):
    @blp.auth("jobs:ping")
    @blp.arguments(PingJobSchema)
    @blp.response(202, JobAcceptedSchema)
    def post(self, body):
        """Enqueue a pipeline check: a worker picks it up, reports progress and succeeds."""
        job, _ = jobs.enqueue("worker_ping", {"seconds": body["seconds"]},
                              requested_by=authenticate().user_id)
        return accepted(job)


@blp.route("/<uuid:job_id>")
class JobById(MethodView):
    @blp.auth("jobs:read")
    @blp.response(200, JobSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, job_id: uuid.UUID):
        """A job's status, progress, result or error (its requester or an admin)."""
        return jobs.get_visible(job_id, authenticate())


@blp.route("/<uuid:job_id>/cancel")
class JobCancel(MethodView):
    @blp.auth("jobs:cancel")
    @blp.response(200, JobSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, job_id: uuid.UUID):
        """Cancel a queued or running job."""
        return jobs.cancel(job_id)


@blp.route("/<uuid:job_id>/download")
class JobDownload(MethodView):
    @blp.auth("jobs:read")
    @blp.response(200, content_type="text/csv",
                  description="The file, streamed as an attachment (CSV or JSON)")
    @blp.alt_response(404, response="NOT_FOUND",
                      description="Unknown, not yours, not finished, or without a file")
    def get(self, job_id: uuid.UUID):
        """Download the file a job produced (a usage export): its requester or an admin."""
        file = exports.download(job_id, authenticate())
        return send_file(file.path, mimetype=file.mimetype, as_attachment=True,
                         download_name=file.filename, max_age=0)
