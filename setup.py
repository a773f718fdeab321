"""mpe_jax: multi-pitch estimation in JAX/Flax (SS-MPE, ISMIR 2025, Timbre-Trap, MAJL)."""

from setuptools import find_packages, setup

# The working set verified together (Python 3.11, CPU). See README.md, "Two
# commands" (the install lines) and "Transcribe a recording".
# `pip install -e .` is what transcription and scoring need (no TensorFlow);
# training, dataset preparation and the notebook add TRAIN ("[train]").
INSTALL_REQUIRES = [
    'jax==0.10.2',
    'jaxlib==0.10.2',
    'flax==0.12.8',
    'optax==0.2.8',
    'orbax-checkpoint==0.12.8',  # training checkpoints (--checkpoint=RUN)
    # Fallback decoding of formats libsndfile cannot read (MP3, M4A, ...).
    'librosa==0.11.0',
    'mir_eval==0.8.2',
    'ml_collections==1.1.0',
    'absl-py==2.5.1',
    'numpy==2.4.6',
    'scipy==1.17.1',
    'soundfile==0.14.0',
    # Streaming resampler (also a librosa dependency); mpe_jax.transcribe
    # resamples long files block by block with it.
    'soxr',
    'tqdm',
    'matplotlib',
    'mido',
    # jax.export (serialising a model's programs, e.g. for serving) needs it
    # and jax does not declare it.
    'flatbuffers',
]

# Training, input pipelines and dataset preparation.
TRAIN_REQUIRES = [
    'tensorflow-cpu==2.21.0',
    'tensorflow-datasets==4.9.10',
    # tensorflow-datasets imports it but only declares it for old Pythons.
    'importlib_resources',
    'array_record',  # prepared corpus shards (data_pipelines.prepared)
    'jams',  # GuitarSet annotations
    'tensorboard',
]

setup(
    name='mpe_jax',
    version='0.1.0',
    description='Multi-pitch estimation in JAX/Flax: HCQT, self-supervised '
                'and supervised objectives, Timbre-Trap, MAJL.',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mpe_jax', 'mpe_jax.*',
                                    'data_pipelines', 'data_pipelines.*']),
    # The shipped models (mpe_jax/pretrained/<name>/).
    package_data={'mpe_jax.pretrained': ['*/params.npz', '*/config.json',
                                         '*/params.sha256', '*/MODEL_CARD.md']},
    python_requires='>=3.11',
    install_requires=INSTALL_REQUIRES,
    # The transcription command under a name of its own (same flags as
    # python -m mpe_jax.transcribe).
    entry_points={'console_scripts': [
        'mpe-jax-transcribe=mpe_jax.transcribe:main']},
    extras_require={
        # Training (python -m mpe_jax.main), data preparation, pseudo-labels.
        'train': TRAIN_REQUIRES,
        # The tests (they train), the notebook's test (IPython.display,
        # nbformat) and the music21 corpus of the shipped model's recipe
        # (data_pipelines.generated.pieces).
        'test': TRAIN_REQUIRES + ['pytest', 'pytest-xdist', 'hypothesis',
                                  'nbformat', 'ipython', 'music21==10.5.1'],
        # The notebook outside Colab/Jupyter (it trains).
        'notebook': TRAIN_REQUIRES + ['ipython'],
        # Making the shipped model's training data (configs/pretrained.py).
        'recipe': TRAIN_REQUIRES + ['music21==10.5.1'],
        'gpu': TRAIN_REQUIRES + ['jax[cuda12]==0.10.2'],
        'tpu': TRAIN_REQUIRES + ['jax[tpu]==0.10.2'],
    },
)
