# Atrous Lab on a CPU: docker build -t atrous-lab . && docker run -p 8501:8501 atrous-lab
# UNTESTED: no Docker daemon (and no image registry) on the machines this was written and
# tested on; CI does not build it. What it runs is tested: `atrous-lab app` from a wheel
# in a fresh venv (tests/test_packaging.py). Report a failure with its build log.
FROM python:3.11-slim

# g++: pydensecrf2 (the dense CRF) builds from source
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# torch's CPU-only wheels first (the default ones carry CUDA, about 3 GB more), then the
# rest at the versions CI tested (constraints.txt)
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch torchvision \
 && pip install --no-cache-dir -r requirements.txt -c constraints.txt
COPY pyproject.toml README.md app.py ./
COPY deeplab_viz ./deeplab_viz
COPY pages ./pages
COPY ui ./ui
COPY lessons ./lessons
COPY .streamlit ./.streamlit
RUN pip install --no-cache-dir --no-deps . && rm -rf /src

# Weights: the default model downloads once (checked sha256) into the cache; mount a
# folder there to keep it, or mount weights and set DEEPLAB_VIZ_WEIGHTS_DIR (and
# DEEPLAB_VIZ_OFFLINE=1) to run with no network, as in the README.
ENV DEEPLAB_VIZ_CACHE=/data/cache
VOLUME /data
WORKDIR /data
EXPOSE 8501
HEALTHCHECK CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=5)"
CMD ["atrous-lab", "app", "--", "--server.address", "0.0.0.0", "--server.port", "8501"]
