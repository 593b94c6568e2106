import hashlib
import os

from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt


def index(request):
    return HttpResponse("Hello from Django, pid %d\n" % os.getpid(),
                        content_type="text/plain; charset=utf-8")


def echo(request, rest=""):
    return JsonResponse({
        "path": request.path,
        "path_info": request.path_info,
        "rest": rest,
        "get": {key: request.GET.getlist(key) for key in request.GET},
        "script_name": request.META.get("SCRIPT_NAME"),
        "method": request.method,
    })


@csrf_exempt
def upload(request):
    if request.method != "POST" or "file" not in request.FILES:
        return HttpResponseBadRequest("POST a file field named 'file'\n")
    uploaded = request.FILES["file"]
    digest = hashlib.sha256()
    size = 0
    for chunk in uploaded.chunks():
        size += len(chunk)
        digest.update(chunk)
    return JsonResponse({
        "name": uploaded.name,
        "size": size,
        "sha256": digest.hexdigest(),
        "note": request.POST.get("note"),
        "in_memory": type(uploaded).__name__ == "InMemoryUploadedFile",
    })
