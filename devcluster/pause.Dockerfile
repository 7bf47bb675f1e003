# kubedag/pause:3.10, the local cluster's pod sandbox image: one static program (pause.c,
# compiled with `gcc -static` by devcluster/pause.py, which builds this with buildah).
FROM scratch
COPY pause /pause
ENTRYPOINT ["/pause"]
