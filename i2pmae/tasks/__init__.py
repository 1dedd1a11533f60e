"""The paper's jobs, built on :mod:`i2pmae.engine`: pre-training (``pretrain``, from a teacher cache or
online), the linear-SVM and k-NN probes (``svm``, ``svm_eval``), fine-tuning, voting and few-shot
(``classify``), part segmentation (``segment``), their metrics, the miniature Table 1 (``experiment``),
and the stand-in teacher's training and the teacher-output cache (``teacher_train``, ``teacher_cache``).
"""
