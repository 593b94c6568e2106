"""Windows command lines as IIS and a Windows program's C runtime read
them: :func:`split_command_line` turns the ``arguments`` of a FastCGI
application into words, :func:`quote_path` writes a path as ``fullPath``
and ``scriptProcessor`` need it."""

__all__ = ["quote_path", "split_command_line"]


def quote_path(path: str) -> str:
    """``path`` in double quotes when it holds a space, as IIS needs it in
    fullPath and scriptProcessor (the two must then match, quotes
    included)."""
    if " " in path and not (path.startswith('"') and path.endswith('"')):
        return '"%s"' % path
    return path


def split_command_line(text: str) -> list:
    """Split ``arguments`` as a Windows program's C runtime does: spaces
    separate, double quotes group, backslashes are literal except before a
    double quote (2n backslashes + quote: n backslashes and a quote that
    groups; 2n+1: n backslashes and a literal quote)."""
    words, current, quoted, started = [], [], False, False
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            run = index
            while run < length and text[run] == "\\":
                run += 1
            count = run - index
            if run < length and text[run] == '"':
                current.append("\\" * (count // 2))
                if count % 2:
                    current.append('"')
                    index = run + 1
                else:
                    index = run
                started = True
                continue
            current.append("\\" * count)
            started = True
            index = run
            continue
        if char == '"':
            if quoted and index + 1 < length and text[index + 1] == '"':
                current.append('"')
                index += 2
                continue
            quoted = not quoted
            started = True
        elif char in " \t" and not quoted:
            if started:
                words.append("".join(current))
                current, started = [], False
        else:
            current.append(char)
            started = True
        index += 1
    if started:
        words.append("".join(current))
    return words
