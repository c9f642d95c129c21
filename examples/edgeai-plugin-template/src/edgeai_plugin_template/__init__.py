"""edgeai-plugin-template: a minimal edgeai plugin (dataset ``template-waves``, compiler ``template-fp16``,
runtime ``template-numpy``), all in plain numpy. Only :mod:`edgeai_plugin_template.plugin` is imported to list
them; the implementations are imported when edgeai builds a component."""

__version__ = "0.1.0"
