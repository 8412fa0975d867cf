"""SonoDash core: inference, training, evaluation and reader studies for prenatal-ultrasound AI.

No Streamlit import anywhere in this package: everything a page does, a script can do through ``core``.
"""

__version__ = "0.1.0"
