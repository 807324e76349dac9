"""Getting the diagnosis to people: the mail (body, MIME, sent-log), SMTP, 企业微信/钉钉
pushes, the action-list workbook and the daily routine that runs them all.
"""
